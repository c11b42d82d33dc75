/*
 * dm-keeper: the parent of every daemon of one manager instance.
 *
 *   dm-keeper SOCKET
 *
 * A supervisor written in Node cannot survive its own death: when the manager is killed,
 * its children are orphaned and the read ends of their output pipes close, so every
 * daemon dies of SIGPIPE at its next write. runit's runsv and s6's s6-supervise avoid
 * that with a tiny process per service that owns the child and its pipe. This is the
 * same idea with one process for all daemons: the keeper forks each daemon (straight into
 * its cgroup2 cgroup with clone3), holds the daemons' output pipes and whatever other
 * descriptors the manager asks it to keep (control sockets, listening sockets), reaps,
 * and signals a daemon only through what proves it is that daemon's: a pidfd held since
 * the fork, and the members of its cgroup. It has no policy at all: the manager decides
 * what to start and stop, and re-attaches after an upgrade or a crash to find every run,
 * exit and descriptor where it left them.
 *
 * The manager talks to it over a SOCK_SEQPACKET socket in its private state directory,
 * one connection at a time, authenticated by the kernel (SO_PEERCRED: the keeper's own
 * uid only). Messages are NUL-separated fields, the first one the verb; descriptors
 * travel as SCM_RIGHTS (src/keeper/README.md lists the verbs).
 *
 * The keeper never blocks on the manager: what a manager slow to read has no room for
 * waits in the keeper, in order (see send_event); a manager that hangs up gets the whole
 * state again when it says hello.
 */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int epoll_fd = -1, listen_fd = -1, connection = -1, signal_fd = -1, timer_fd = -1;
/*
 * Nothing more is sent to the manager on this connection (it hung up, or a send failed),
 * but what it sent before is still to be read: the connection is kept until its last
 * request (a quit, above all) has been handled.
 */
static int sending_stopped;
static char receive_buffer[MAX_MESSAGE + 1];
static int64_t idle_since_ms;

/* Lines logged while no manager listens, sent at its next hello (the newest 32). */
#define BACKLOG_LINES 32
static char *backlog[BACKLOG_LINES];
static size_t backlog_next;

int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static uint64_t tag(int kind, int fd) { return ((uint64_t)kind << 32) | (uint32_t)fd; }

void watch_fd(int fd, uint32_t events, int kind) {
  struct epoll_event event = {.events = events, .data.u64 = tag(kind, fd)};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == -1 && errno == EEXIST)
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
}

void unwatch_fd(int fd) { epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL); }

/* The poll timer ticks only while some run without a cgroup waits to be empty. */
void arm_poll_timer(int on) {
  struct itimerspec spec = {0};
  if (on) {
    spec.it_value.tv_nsec = 50 * 1000000;
    spec.it_interval.tv_nsec = 100 * 1000000;
  }
  timerfd_settime(timer_fd, 0, &spec, NULL);
}

/*
 * Messages the manager's socket had no room for yet, oldest first, sent as it reads.
 * A descriptor is not held here but named (the store's name and the pipe's inode): at
 * 10,000 daemons, copies held while a hello's snapshot waits would pass the hard limit
 * of open files. One that is gone by then is no longer the manager's to know of.
 */
struct queued {
  char *bytes;
  size_t length;
  char *stored_name;
  unsigned long long inode;
  struct queued *next;
};
static struct queued *queue_head, *queue_tail;
static size_t queued_count;

static void free_queued(struct queued *entry) {
  free(entry->bytes);
  free(entry->stored_name);
  free(entry);
}

static void discard_queue(void) {
  while (queue_head) {
    struct queued *next = queue_head->next;
    free_queued(queue_head);
    queue_head = next;
  }
  queue_tail = NULL;
  queued_count = 0;
}

/*
 * The manager said (`hello 3`) that it reads a run's owner and uid: only then are they
 * added to run reports, whose field count a manager before version 3 checks (a downgrade
 * that keeps this keeper would otherwise lose sight of every run).
 */
static int manager_reads_uids;
/* The manager said `hello 4`: it reads a run's gid and groups too (after the uids). */
static int manager_reads_groups;
/* The manager said `hello 5`: it reads when the run's exec was done too (after the groups). */
static int manager_reads_exec_time;

int reports_uids(void) { return manager_reads_uids; }
int reports_groups(void) { return manager_reads_groups; }
int reports_exec_time(void) { return manager_reads_exec_time; }

static void drop_connection(const char *why) {
  if (connection == -1) return;
  manager_reads_uids = manager_reads_groups = manager_reads_exec_time = 0;
  unwatch_fd(connection);
  close(connection);
  connection = -1;
  discard_queue();
  sending_stopped = 0;
  idle_since_ms = now_ms();
  keeper_log("info", "manager disconnected (%s)", why);
}

/* Whether events go to a manager (else they are dropped, and log lines kept for the next). */
static int manager_listens(void) { return connection != -1 && !sending_stopped; }

/*
 * A send to the manager failed with `error` (not EAGAIN), or a recvmsg with ECONNRESET.
 * Closing the connection then threw away the requests it had sent and the keeper had not
 * read yet, so what waits to be sent goes, and the requests are read to their end
 * (recvmsg returns 0): nothing the manager sent is lost, whatever the error.
 *
 * ECONNRESET: the manager closed its end with events of ours unread; af_unix then sets it
 * on this end (unix_release_sock), and the next sendmsg or recvmsg fails with it once,
 * before any request still waiting here is read (at the end of a shutdown of 1,000
 * daemons, the releases and the `quit` itself were lost, and the keeper stayed for good).
 * EPIPE says the same of a peer with nothing unread. Any other error (EMSGSIZE, ENOBUFS,
 * ENOMEM, ETOOMANYREFS) leaves a manager still there with a gap in what it was told: the
 * end of our sending side tells it (its recvmsg returns 0 after what came before), and it
 * connects again for the whole state, once this connection's requests are handled.
 */
static void stop_sending(int error) {
  discard_queue();
  sending_stopped = 1;
  shutdown(connection, SHUT_WR);
  watch_fd(connection, EPOLLIN, TAG_CONNECTION);
  if (error != EPIPE && error != ECONNRESET)
    keeper_log("warn", "stopped sending to the manager (%s): it gets the whole state again",
               strerror(error));
}

/* One sendmsg on `fd`, with `pass` (or -1) as SCM_RIGHTS; the errno of a failure, or 0. */
static int transmit(int fd, const char *bytes, size_t length, int pass) {
  struct iovec iov = {.iov_base = (void *)bytes, .iov_len = length};
  struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
  char control[CMSG_SPACE(sizeof(int))];
  if (pass != -1) {
    memset(control, 0, sizeof control);
    header.msg_control = control;
    header.msg_controllen = sizeof control;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &pass, sizeof pass);
  }
  ssize_t sent;
  do sent = sendmsg(fd, &header, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent == -1 && errno == EINTR);
  return sent == -1 ? errno : 0;
}

/* The stored descriptor a queued message names, if it is still the one it was. */
static int stored_fd_of(const struct queued *entry) {
  int fd = store_get(entry->stored_name);
  struct stat about;
  if (fd == -1 || fstat(fd, &about) == -1) return -1;
  return (unsigned long long)about.st_ino == entry->inode ? fd : -1;
}

/* Sends what waits, as far as the socket takes it; EPOLLOUT is watched while any is left. */
static void flush_queue(void) {
  while (manager_listens() && queue_head) {
    struct queued *entry = queue_head;
    int pass = -1;
    if (entry->stored_name && (pass = stored_fd_of(entry)) == -1) {
      /* Dropped or replaced meanwhile: nothing left to announce (a new one has its own). */
    } else {
      int error = transmit(connection, entry->bytes, entry->length, pass);
      if (error == EAGAIN) return;
      if (error) {
        stop_sending(error);
        return;
      }
    }
    queue_head = entry->next;
    if (!queue_head) queue_tail = NULL;
    queued_count--;
    free_queued(entry);
  }
  if (manager_listens()) watch_fd(connection, EPOLLIN, TAG_CONNECTION);
}

static void enqueue(const char *bytes, size_t length, const char *stored_name, int fd) {
  struct queued *entry = calloc(1, sizeof *entry);
  if (!entry || !(entry->bytes = malloc(length))) abort();
  memcpy(entry->bytes, bytes, length);
  entry->length = length;
  if (stored_name) {
    struct stat about;
    if (!(entry->stored_name = strdup(stored_name))) abort();
    entry->inode = fstat(fd, &about) == 0 ? (unsigned long long)about.st_ino : 0;
  }
  if (queue_tail) queue_tail->next = entry;
  else queue_head = entry;
  queue_tail = entry;
  if (queued_count++ == 0) watch_fd(connection, EPOLLIN | EPOLLOUT, TAG_CONNECTION);
}

/*
 * Sends one message, with the descriptor stored as `stored_name` if not NULL. Never
 * blocks, and never gives up on a manager slow to read: what its socket has no room for
 * waits here, in order, until it reads. Dropping it instead lost the requests it had sent
 * and the keeper had not read yet: at 10,000 daemons, a shutdown's SIGTERMs and SIGKILLs
 * (thousands of daemons left running). What waits is bounded by what the manager asks
 * for and the runs it has: each run is reported a few times in its life.
 */
void send_event(const char *verb, const char *const *fields, size_t count,
                const char *stored_name) {
  if (!manager_listens()) return;
  static char out[MAX_MESSAGE];
  size_t length = 0;
  for (size_t i = 0; i <= count; i++) {
    const char *field = i == 0 ? verb : fields[i - 1];
    size_t size = strlen(field) + 1;
    if (length + size > sizeof out) {
      keeper_log("error", "message %s too long; not sent", verb);
      return;
    }
    memcpy(out + length, field, size);
    length += size;
  }
  int fd = stored_name ? store_get(stored_name) : -1;
  if (stored_name && fd == -1) return;
  if (!queue_head) {
    int error = transmit(connection, out, length, fd);
    if (!error) return;
    if (error != EAGAIN) {
      stop_sending(error);
      return;
    }
  }
  enqueue(out, length, stored_name, fd);
}

void keeper_log(const char *level, const char *format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (manager_listens()) {
    const char *fields[] = {level, text};
    send_event("log", fields, 2, NULL);
    return;
  }
  char line[1100];
  snprintf(line, sizeof line, "%s\036%s", level, text);
  free(backlog[backlog_next]);
  backlog[backlog_next] = strdup(line);
  backlog_next = (backlog_next + 1) % BACKLOG_LINES;
}

static void send_backlog(void) {
  for (size_t i = 0; i < BACKLOG_LINES; i++) {
    size_t slot = (backlog_next + i) % BACKLOG_LINES;
    char *line = backlog[slot];
    if (!line) continue;
    char *separator = strchr(line, '\036');
    if (separator) {
      *separator = '\0';
      const char *fields[] = {line, separator + 1};
      send_event("log", fields, 2, NULL);
    }
    free(line);
    backlog[slot] = NULL;
  }
}

/* A decimal number (a run's sequence number, a pipe's inode). */
static int parse_seq(const char *text, uint64_t *seq) {
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno || end == text || *end) return 0;
  *seq = value;
  return 1;
}

static void reply_error(const char *verb, const char *text) {
  const char *fields[] = {verb, text};
  send_event("error", fields, 2, NULL);
}

static void handle_hello(const struct message *request) {
  manager_reads_uids = request->count >= 2 && atoi(request->fields[1]) >= 3;
  manager_reads_groups = request->count >= 2 && atoi(request->fields[1]) >= 4;
  manager_reads_exec_time = request->count >= 2 && atoi(request->fields[1]) >= 5;
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  const char *fields[] = {pid, KEEPER_VERSION};
  send_event("hello", fields, 2, NULL);
  send_backlog();
  store_report_all();
  runs_report_all();
  send_event("end", NULL, 0, NULL);
}

static void handle_spawn(struct message *request) {
  uint64_t seq;
  if (request->count < 3 || !parse_seq(request->fields[1], &seq)) {
    reply_error("spawn", "needs a new sequence number and an id");
    return;
  }
  if (run_by_seq(seq)) {
    /* Named, so that the manager fails this start instead of waiting for it forever. */
    const char *fields[] = {request->fields[1], "its run number is another run's (not started)"};
    send_event("spawn-failed", fields, 2, NULL);
    return;
  }
  struct run *run = run_new(seq, request->fields[2]);
  char error[512];
  if (spawn_run(run, request, error, sizeof error) == -1) {
    const char *fields[] = {request->fields[1], error};
    send_event("spawn-failed", fields, 2, NULL);
    run_forget(run);
    return;
  }
  run_report(run, "spawned");
}

static void handle_signal(struct message *request) {
  uint64_t seq;
  char *end;
  struct run *run = NULL;
  long sig = request->count == 3 ? strtol(request->fields[2], &end, 10) : -1;
  if (request->count != 3 || !parse_seq(request->fields[1], &seq) || *end || sig < 0 ||
      sig > 64 || !(run = run_by_seq(seq))) {
    reply_error("signal", "needs a known run and a signal number");
    return;
  }
  int reached = 0;
  int error = run_signal(run, (int)sig, &reached);
  char count[16], code[16];
  snprintf(count, sizeof count, "%d", reached);
  snprintf(code, sizeof code, "%d", error);
  const char *fields[] = {request->fields[1], request->fields[2], count, code};
  send_event("signalled", fields, 4, NULL);
}

static void handle_adopt(struct message *request) {
  uint64_t seq;
  char *end;
  /* Since version 6, a seventh field: the run's uid, to take on what is left of its group. */
  if ((request->count != 6 && request->count != 7) || !parse_seq(request->fields[1], &seq) ||
      run_by_seq(seq)) {
    reply_error("adopt", "needs a new run, an id, a pid, a start time and a cgroup");
    return;
  }
  long pid = strtol(request->fields[3], &end, 10);
  unsigned long long ticks = strtoull(request->fields[4], NULL, 10);
  long long group_uid = request->count == 7 ? strtoll(request->fields[6], &end, 10) : -1;
  if (request->count == 7 && (*end || group_uid < 0)) group_uid = -1;
  struct run *run = run_new(seq, request->fields[2]);
  if (run_adopt(run, (pid_t)pid, ticks, request->fields[5], group_uid) == -1) {
    const char *fields[] = {request->fields[1]};
    send_event("adopt-failed", fields, 1, NULL);
    run_forget(run);
    return;
  }
  run_record(run);
  run_report(run, "run");
}

static void dispatch(struct message *request) {
  const char *verb = request->fields[0];
  uint64_t seq, inode;
  if (strcmp(verb, "hello") == 0) handle_hello(request);
  else if (strcmp(verb, "spawn") == 0) handle_spawn(request);
  else if (strcmp(verb, "signal") == 0) handle_signal(request);
  else if (strcmp(verb, "adopt") == 0) handle_adopt(request);
  else if (strcmp(verb, "release") == 0 && request->count == 2 &&
           parse_seq(request->fields[1], &seq)) {
    struct run *run = run_by_seq(seq);
    if (run) run_forget(run);
  } else if (strcmp(verb, "store") == 0 && request->count == 2 && request->fd_count == 1) {
    if (store_put(request->fields[1], request->fds[0]) == 0) request->fd_count = 0;
  } else if (strcmp(verb, "drop") == 0 && request->count == 2)
    store_drop(request->fields[1]);
  else if (strcmp(verb, "drop-pipe") == 0 && request->count == 3 &&
           parse_seq(request->fields[2], &inode))
    store_drop_pipe(request->fields[1], inode);
  else if (strcmp(verb, "pipe-close") == 0 && request->count == 2)
    output_close_writer(request->fields[1]);
  else if (strcmp(verb, "quit") == 0) {
    /* A clean stop leaves nothing: what the manager gave up waiting for is killed here. */
    size_t killed = runs_kill_left();
    if (killed > 0)
      keeper_log("warn", "quitting at the manager's request: killed what was left of %zu runs",
                 killed);
    else keeper_log("info", "quitting at the manager's request");
    exit(0);
  } else
    reply_error(verb, "unknown request");
}

static void handle_signals(void);

/*
 * The requests handled per wake-up. Each spawn is a fork, which costs milliseconds on a
 * loaded VM; a manager respawning hundreds of daemons keeps the socket full, and a loop
 * that drained it before going back to epoll left SIGCHLD unread, exits unreported and
 * zombies piling up for as long as the burst lasted (a crash storm: 400 zombies, and the
 * respawns those exits would have asked for all waiting). So exits are reaped after every
 * spawn, and after this many requests the other descriptors (exec pipes, cgroup events, a
 * new connection) get their turn: epoll is level-triggered, the rest is read next round.
 */
#define REQUESTS_PER_WAKEUP 32

/* Reads the manager's requests; whether it stopped at REQUESTS_PER_WAKEUP with more to read. */
static int receive(void) {
  for (int handled = 0; handled < REQUESTS_PER_WAKEUP; handled++) {
    /*
     * Not `= {0}`: zeroing the 33 KB of field pointers for every request wrote pages
     * shared copy-on-write with children not yet exec'd, a page copy (and TLB shootdown)
     * each. The counts say what is filled in.
     */
    struct message request;
    request.count = 0;
    request.fd_count = 0;
    struct iovec iov = {.iov_base = receive_buffer, .iov_len = MAX_MESSAGE};
    char control[CMSG_SPACE(sizeof(int) * MAX_MESSAGE_FDS)];
    struct msghdr header = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t got = recvmsg(connection, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got == -1 && errno == EINTR) continue;
    if (got == -1 && errno == EAGAIN) return 0;
    if (got == -1 && errno == ECONNRESET) {
      stop_sending(ECONNRESET);
      continue;
    }
    if (got <= 0) {
      drop_connection(got == 0 ? "closed" : strerror(errno));
      return 0;
    }
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg; cmsg = CMSG_NXTHDR(&header, cmsg))
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
        size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
          if (request.fd_count < MAX_MESSAGE_FDS) request.fds[request.fd_count++] = fd;
          else close(fd);
        }
      }
    if (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      reply_error("?", "message too long");
    } else {
      receive_buffer[got] = '\0';
      /* Fields end with NUL; a last field without one ends at the buffer's end. */
      char *cursor = receive_buffer, *end = receive_buffer + got;
      while (cursor < end && request.count < MAX_FIELDS) {
        request.fields[request.count++] = cursor;
        cursor += strlen(cursor) + 1;
      }
      if (request.count > 0) dispatch(&request);
    }
    for (size_t i = 0; i < request.fd_count; i++) close(request.fds[i]);
    if (connection == -1) return 0;
    handle_signals();
    if (connection == -1) return 0;
  }
  return 1;
}

/*
 * The send buffer to the manager: 4 MiB. The tests make it smaller (their manager's
 * environment, passed on by spawnKeeper alone) to reach with a few hundred daemons what
 * only thousands fill otherwise.
 */
static int send_buffer_size(void) {
  const char *wanted = getenv("DM_TEST_KEEPER_SEND_BUFFER");
  int size = wanted ? atoi(wanted) : 0;
  return size > 0 ? size : 4 * 1024 * 1024;
}

/*
 * Whether the attached manager has closed its end, or is about to (we stopped sending: it
 * reads the end and connects again); what it sent may still wait here.
 */
static int manager_closed_its_end(void) {
  if (sending_stopped) return 1;
  struct pollfd end = {.fd = connection, .events = POLLIN | POLLRDHUP};
  return poll(&end, 1, 0) == 1 && (end.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* A second manager while one is attached: refused, unless the first has hung up. */
static void accept_manager(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd == -1) return;
  struct ucred peer;
  socklen_t size = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) == -1 || peer.uid != geteuid()) {
    close(fd);
    return;
  }
  /*
   * A manager that has hung up (one that reconnects after a send of its timed out, one
   * started again at once) may have left requests here: they are handled before the next
   * manager is taken, as they would have been had it come later (dropped with the
   * connection, a release or a quit was lost). The peek below would take the ECONNRESET
   * that stands for them (see stop_sending) as the end.
   */
  if (connection != -1 && manager_closed_its_end())
    while (connection != -1 && receive()) continue;
  if (connection != -1) {
    char probe;
    ssize_t got = recv(connection, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0 || (got == -1 && errno != EAGAIN)) drop_connection("replaced");
    else {
      static const char refusal[] = "error\0busy\0another manager is attached to this keeper";
      transmit(fd, refusal, sizeof refusal, -1);
      close(fd);
      return;
    }
  }
  int size_wanted = send_buffer_size();
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size_wanted, sizeof size_wanted) == -1)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size_wanted, sizeof size_wanted);
  connection = fd;
  watch_fd(fd, EPOLLIN, TAG_CONNECTION);
}

static void handle_signals(void) {
  struct signalfd_siginfo info;
  int reap = 0;
  while (read(signal_fd, &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGCHLD) reap = 1;
    else
      keeper_log("warn", "signal %d from pid %u ignored: stop the manager, not its keeper",
                 (int)info.ssi_signo, info.ssi_pid);
  }
  if (reap) runs_reap();
}

static void open_socket(const char *path) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) {
    fprintf(stderr, "dm-keeper: socket path too long: %s\n", path);
    exit(2);
  }
  strcpy(address.sun_path, path);
  listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  unlink(path);
  if (listen_fd == -1 || bind(listen_fd, (struct sockaddr *)&address, sizeof address) == -1 ||
      listen(listen_fd, 4) == -1) {
    fprintf(stderr, "dm-keeper: cannot listen on %s: %s\n", path, strerror(errno));
    exit(2);
  }
}

static void raise_descriptor_limit(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dm-keeper SOCKET\n");
    return 2;
  }
  /*
   * Nothing the manager held may live on here (its instance lock above all: a keeper
   * holding it would keep the next manager out). Descriptors 0-2 are made valid.
   */
  syscall(SYS_close_range, 3, ~0U, 0);
  int spare;
  while ((spare = open("/dev/null", O_RDWR)) != -1 && spare < 3) continue;
  if (spare > 2) close(spare);
  umask(077);
  setsid();
  /* What daemons orphan comes here rather than to an init that may never reap it. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  raise_descriptor_limit();
  sigset_t signals;
  sigemptyset(&signals);
  int handled[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE};
  for (size_t i = 0; i < sizeof handled / sizeof *handled; i++) sigaddset(&signals, handled[i]);
  sigprocmask(SIG_BLOCK, &signals, NULL);
  sigdelset(&signals, SIGPIPE);
  signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (signal_fd == -1 || timer_fd == -1 || epoll_fd == -1) {
    perror("dm-keeper");
    return 2;
  }
  open_socket(argv[1]);
  runs_record_in(argv[1]);
  watch_fd(listen_fd, EPOLLIN, TAG_LISTEN);
  watch_fd(signal_fd, EPOLLIN, TAG_SIGNALS);
  watch_fd(timer_fd, EPOLLIN, TAG_TIMER);
  /* The manager waits for this line on our stdout before it connects. */
  if (write(1, "ready\n", 6) != 6) return 2;
  /* Not even the manager's stderr is kept: a pipe to a logger must end when the manager does. */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null != -1) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
  idle_since_ms = now_ms();
  for (;;) {
    struct epoll_event events[64];
    /*
     * A keeper with nothing to keep and nobody attached for a minute was left behind by a
     * manager that died before it said hello: it goes.
     */
    int idle = connection == -1 && runs_count() == 0 && store_count() == 0;
    int count = epoll_wait(epoll_fd, events, 64, idle ? 60000 : -1);
    if (count == -1 && errno != EINTR) {
      perror("dm-keeper: epoll_wait");
      return 2;
    }
    if (count == 0 && idle && now_ms() - idle_since_ms >= 60000) return 0;
    for (int i = 0; i < count; i++) {
      int kind = (int)(events[i].data.u64 >> 32), fd = (int)(uint32_t)events[i].data.u64;
      switch (kind) {
        case TAG_LISTEN:
          accept_manager();
          break;
        case TAG_CONNECTION:
          if (fd == connection && (events[i].events & EPOLLOUT)) flush_queue();
          if (fd == connection && (events[i].events & ~EPOLLOUT)) receive();
          break;
        case TAG_SIGNALS:
          handle_signals();
          break;
        case TAG_TIMER: {
          uint64_t ticks;
          if (read(timer_fd, &ticks, sizeof ticks) > 0) runs_poll();
          break;
        }
        /*
         * No run for the descriptor: an event of this batch for a descriptor an earlier
         * event of it closed (every watched one is unwatched before it is closed, so none
         * comes later). Its number may be another file's now, just opened and watched:
         * unwatched by its number, the cgroup.events of a run whose main process had just
         * ended was no longer watched, its end never told, the daemon left stopping for
         * good (an outside review, 29b, F2, under load). So such an event is let go.
         */
        case TAG_ERRPIPE: {
          struct run *run = run_by_errpipe(fd);
          if (run) run_exec_pipe_ready(run);
          break;
        }
        case TAG_EVENTS: {
          struct run *run = run_by_events(fd);
          if (run) run_events_ready(run);
          break;
        }
      }
    }
  }
}
