#include "close_aside.h"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static void *close_there(void *fd) {
  close((int)(intptr_t)fd);
  return NULL;
}

int dm_close_aside(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
    pthread_attr_t attr;
    pthread_t thread;
    /* A small stack: the thread only closes. Without a thread, it is closed here. */
    if (pthread_attr_init(&attr) == 0) {
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      pthread_attr_setstacksize(&attr, 64 * 1024);
      int made = pthread_create(&thread, &attr, close_there, (void *)(intptr_t)fd);
      pthread_attr_destroy(&attr);
      if (made == 0) return 0;
    }
  }
  return close(fd) == -1 ? errno : 0;
}
