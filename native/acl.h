#ifndef DM_ACL_H
#define DM_ACL_H

#include <stdbool.h>

/** Does the file's access ACL let a named user or group write it? (A buffer too small: yes.) */
bool dm_acl_lets_others_write(int fd);

#endif
