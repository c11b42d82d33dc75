/*
 * The Linux kernel keeps credentials per thread: setresuid(2) as a system call changes
 * the calling thread alone. POSIX wants them per process, so glibc's setresuid(),
 * seteuid() and setgroups() stop every other thread and make each one repeat the call
 * (the SIGSETXID broadcast). Calling the system calls directly keeps the change on the
 * worker thread, so that one thread can open files as alice while another does as bob
 * and the event loop stays root.
 *
 * Only the effective ids change: the real and saved uid stay 0, which is what lets the
 * thread switch back. When the effective uid leaves 0, the kernel clears the thread's
 * effective capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER ...: the thread gets exactly the
 * user's file permissions); when it returns to 0, they come back from the permitted set.
 * The file-system uid follows the effective uid. See capabilities(7), "Effect of user ID
 * changes on capabilities", and credentials(7).
 *
 * One process-wide side effect remains: a change of effective uid makes the kernel mark
 * the process not dumpable (no core dump, /proc/PID owned by root), as seteuid always
 * did for the manager.
 */
#define _GNU_SOURCE
#include "as_user.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int dm_creds_copy(struct dm_creds *to, const struct dm_creds *from) {
  *to = *from;
  to->groups = NULL;
  if (from->ngroups > 0) {
    to->groups = malloc(sizeof *to->groups * (size_t)from->ngroups);
    if (to->groups == NULL) return -ENOMEM;
    memcpy(to->groups, from->groups, sizeof *to->groups * (size_t)from->ngroups);
  }
  return 0;
}

void dm_creds_free(struct dm_creds *creds) {
  free(creds->groups);
  creds->groups = NULL;
  creds->ngroups = 0;
}

static long raw(long number, long a, long b, long c) {
  long result = syscall(number, a, b, c);
  return result == -1 ? -errno : 0;
}

int dm_become(const struct dm_creds *creds, struct dm_saved *saved) {
  saved->switched = false;
  // Personal mode (the manager is the user) or a root user: nobody to become.
  if (syscall(SYS_geteuid) != 0 || creds->uid == 0) return 0;
  saved->egid = (gid_t)syscall(SYS_getegid);
  long count = syscall(SYS_getgroups, 64, saved->groups);
  if (count < 0) return -errno;
  saved->ngroups = (int)count;
  long error = raw(SYS_setgroups, creds->ngroups, (long)creds->groups, 0);
  if (error == 0) error = raw(SYS_setresgid, -1, creds->gid, -1);
  if (error == 0) error = raw(SYS_setresuid, -1, creds->uid, -1);
  if (error != 0) {
    // The uid switch is last, so the thread is still root and can undo the rest.
    raw(SYS_setresgid, -1, saved->egid, -1);
    raw(SYS_setgroups, saved->ngroups, (long)saved->groups, 0);
    return (int)error;
  }
  saved->switched = true;
  return 0;
}

int dm_return(const struct dm_saved *saved) {
  if (!saved->switched) return 0;
  // The uid first: only an effective root may set the gid and groups back.
  long error = raw(SYS_setresuid, -1, 0, -1);
  if (error == 0) error = raw(SYS_setresgid, -1, saved->egid, -1);
  if (error == 0) error = raw(SYS_setgroups, saved->ngroups, (long)saved->groups, 0);
  return (int)error;
}
