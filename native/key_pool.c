/*
 * Worker threads of the manager's own, not libuv's: a thread stuck in an NFS or FUSE
 * call must not take a place in the pool Node's own fs and DNS work needs.
 *
 * Jobs are queued per key (the uid of the user whose tree they touch): at most one job
 * of a key runs at a time, in the order submitted, and jobs of different keys run in
 * parallel. A user whose file system never answers thus holds at most one thread.
 *
 * Threads are made when a key is ready and no thread is waiting (up to MAX_THREADS).
 * One thread that runs out of work waits for the next job, with no time-out; any other
 * that runs out while one waits ends at once. An idle manager thus has one thread of
 * the pool that never wakes up (a time-out, even one to end it, is a wake-up of the idle
 * manager), and a burst's threads cost nothing once it is over.
 */
#define _GNU_SOURCE
#include "key_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

enum { MAX_THREADS = 32, BUCKETS = 256, STACK_BYTES = 256 * 1024 };

/** The jobs of one key; it exists while it has jobs queued or running. */
struct key_queue {
  struct key_queue *next_in_bucket;
  struct key_queue *next_ready;
  uint32_t key;
  bool running;
  struct dm_job *head, *tail;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct key_queue *buckets[BUCKETS];
static struct key_queue *ready_head, *ready_tail;
static int threads, jobs;
/** A thread waits for work; `called`: a submitter has claimed it for a ready key. */
static bool waiting, called;

static struct key_queue **slot_of(uint32_t key) {
  struct key_queue **slot = &buckets[key % BUCKETS];
  while (*slot != NULL && (*slot)->key != key) slot = &(*slot)->next_in_bucket;
  return slot;
}

static void push_ready(struct key_queue *queue) {
  queue->next_ready = NULL;
  if (ready_tail != NULL) ready_tail->next_ready = queue;
  else ready_head = queue;
  ready_tail = queue;
}

static struct key_queue *pop_ready(void) {
  struct key_queue *queue = ready_head;
  if (queue == NULL) return NULL;
  ready_head = queue->next_ready;
  if (ready_head == NULL) ready_tail = NULL;
  return queue;
}

/**
 * Waits for a submitter's call, unless another thread waits already: false, and this
 * one ends. Lock held. Only the waiting thread waits on `wake`, so a signal is its own.
 */
static bool wait_for_work(void) {
  if (waiting) return false;
  waiting = true;
  called = false;
  while (!called) pthread_cond_wait(&wake, &lock);
  waiting = false;
  return true;
}

static void *work(void *unused) {
  (void)unused;
  // Named for ps -L, top -H and the tests (at most 15 characters).
  pthread_setname_np(pthread_self(), "dm-files");
  pthread_mutex_lock(&lock);
  for (;;) {
    struct key_queue *queue = pop_ready();
    if (queue == NULL) {
      if (wait_for_work()) continue;
      break;
    }
    struct dm_job *job = queue->head;
    queue->head = job->next;
    if (queue->head == NULL) queue->tail = NULL;
    queue->running = true;
    pthread_mutex_unlock(&lock);
    job->run(job);
    pthread_mutex_lock(&lock);
    jobs--;
    queue->running = false;
    if (queue->head != NULL) push_ready(queue);
    else {
      *slot_of(queue->key) = queue->next_in_bucket;
      free(queue);
    }
  }
  threads--;
  pthread_mutex_unlock(&lock);
  return NULL;
}

/** Makes a worker that takes no signal of Node's (SIGINT, SIGCHLD ... stay on the main thread). */
static int start_thread(void) {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, STACK_BYTES);
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pthread_t thread;
  int error = pthread_create(&thread, &attributes, work, NULL);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  pthread_attr_destroy(&attributes);
  return -error;
}

/** A ready key needs a thread: call the waiting one, else make one. Lock held. */
static int find_thread(void) {
  if (waiting && !called) {
    called = true;
    pthread_cond_signal(&wake);
    return 0;
  }
  // At the cap, the key waits until a thread is done with its current job.
  if (threads >= MAX_THREADS) return 0;
  int error = start_thread();
  if (error == 0) threads++;
  return threads > 0 ? 0 : error;
}

int dm_pool_submit(struct dm_job *job) {
  job->next = NULL;
  pthread_mutex_lock(&lock);
  struct key_queue **slot = slot_of(job->key);
  struct key_queue *queue = *slot;
  if (queue == NULL) {
    queue = calloc(1, sizeof *queue);
    if (queue == NULL) {
      pthread_mutex_unlock(&lock);
      return -ENOMEM;
    }
    queue->key = job->key;
    *slot = queue;
  }
  bool was_waiting = queue->running || queue->head != NULL;
  if (queue->tail != NULL) queue->tail->next = job;
  else queue->head = job;
  queue->tail = job;
  jobs++;
  int error = 0;
  if (!was_waiting) {
    push_ready(queue);
    error = find_thread();
    if (error != 0) {
      // No thread at all: undo, so the caller can report it.
      ready_head = ready_tail = NULL;
      *slot = queue->next_in_bucket;
      free(queue);
      jobs--;
    }
  }
  pthread_mutex_unlock(&lock);
  return error;
}

void dm_pool_counts(int *out_threads, int *out_idle, int *out_jobs) {
  pthread_mutex_lock(&lock);
  *out_threads = threads;
  *out_idle = waiting && !called ? 1 : 0;
  *out_jobs = jobs;
  pthread_mutex_unlock(&lock);
}
