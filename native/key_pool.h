/*
 * A pool of worker threads that runs jobs one key at a time (see key_pool.c).
 */
#ifndef DM_KEY_POOL_H
#define DM_KEY_POOL_H

#include <stdint.h>

struct dm_job;
/** Runs on a worker thread; must not touch the pool. The job may be freed once it returns. */
typedef void (*dm_job_run)(struct dm_job *job);

struct dm_job {
  struct dm_job *next;
  uint32_t key;
  dm_job_run run;
};

/** Queues `job` behind the jobs of the same key; 0 or -errno (no thread could be made). */
int dm_pool_submit(struct dm_job *job);

/** Threads now alive, those waiting for work (0 or 1), jobs queued or running (for tests). */
void dm_pool_counts(int *threads, int *idle, int *jobs);

#endif
