/*
 * POSIX ACLs on a user's file: with an access ACL, the group bits of the mode are the
 * ACL's mask, so a file that looks group-writable by its owner's private group may in
 * fact be writable by any user or group the ACL names. Read on the open descriptor, like
 * every other check of a user's file.
 */
#include "acl.h"

#include <stdint.h>
#include <string.h>
#include <sys/xattr.h>

/* The kernel's layout of system.posix_acl_access (linux/posix_acl_xattr.h). */
enum { ACL_VERSION = 2, ACL_NAMED_USER = 0x02, ACL_NAMED_GROUP = 0x08, ACL_WRITE = 0x02 };
struct acl_header {
  uint32_t version;
};
struct acl_entry {
  uint16_t tag;
  uint16_t perm;
  uint32_t id;
};

bool dm_acl_lets_others_write(int fd) {
  char buffer[4096];
  ssize_t length = fgetxattr(fd, "system.posix_acl_access", buffer, sizeof buffer);
  if (length == -1) return false; /* no ACL (ENODATA), or none supported here */
  if ((size_t)length < sizeof(struct acl_header)) return true;
  struct acl_header header;
  memcpy(&header, buffer, sizeof header);
  if (header.version != ACL_VERSION) return true; /* unknown: assume the worst */
  for (size_t at = sizeof header; at + sizeof(struct acl_entry) <= (size_t)length;
       at += sizeof(struct acl_entry)) {
    struct acl_entry entry;
    memcpy(&entry, buffer + at, sizeof entry);
    if ((entry.tag == ACL_NAMED_USER || entry.tag == ACL_NAMED_GROUP) && (entry.perm & ACL_WRITE))
      return true;
  }
  return false;
}
