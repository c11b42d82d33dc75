/*
 * Loaded with LD_PRELOAD by bin/daemon-manager, so it runs before Node does: from the
 * first instruction of the manager, SIGHUP, SIGUSR1 and SIGUSR2 are caught and remembered
 * instead of killing it (or, for SIGUSR1, opening Node's inspector). Node keeps a handler
 * it finds in place (it resets only ignored signals); the manager's own handlers replace
 * these once installed, and the addon then takes what came meanwhile
 * (dm_early_signals_take, found with dlsym) for the manager to act on.
 */
#include <signal.h>
#include <string.h>

static const int CAUGHT[] = {SIGHUP, SIGUSR1, SIGUSR2};
#define COUNT (sizeof CAUGHT / sizeof CAUGHT[0])

static volatile sig_atomic_t seen[COUNT];

static void remember(int signal) {
  for (unsigned i = 0; i < COUNT; i++)
    if (CAUGHT[i] == signal) seen[i] = 1;
}

__attribute__((constructor)) static void catch_early(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = remember;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (unsigned i = 0; i < COUNT; i++) sigaction(CAUGHT[i], &action, NULL);
}

/* The signals caught so far, as a bit per signal number; each is counted once. */
__attribute__((visibility("default"))) unsigned long dm_early_signals_take(void) {
  unsigned long bits = 0;
  for (unsigned i = 0; i < COUNT; i++)
    if (seen[i]) {
      seen[i] = 0;
      bits |= 1UL << CAUGHT[i];
    }
  return bits;
}
