// dmctl's quick path: `dmctl status` without Node.js.
//
// bin/dmctl runs this first, as `dmctl-status NODE BUNDLE ARGS...`. For the plain forms
// of status (`dmctl`, `dmctl status`, `dmctl ID status`, with --config FILE or
// --personal) it finds the manager's socket as dmctl does, asks for the table drawn by
// the manager for this terminal, and prints it: a few milliseconds where Node.js needs
// tens just to start. Everything else, and anything unexpected on the way (an option it
// does not know, a master config it would have to judge, no manager answering, a refusal,
// an answer of another shape), is left to dmctl itself: it execs NODE BUNDLE ARGS, which
// does it all again and explains what went wrong. This file never decides what dmctl
// would decide otherwise; it only declines.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

// As src/config/locate.ts and src/cli/client.ts.
static const char *const DEFAULT_CONFIGS[] = {
    "/etc/daemon-manager/daemon-manager.conf",
    "/etc/daemon-manager.conf",
};
#define DEFAULT_SOCKET_DIR "/run/daemon-manager"
#define MAX_CONFIG_BYTES (1024 * 1024)
#define MAX_ID 300
#define REPLY_TIMEOUT_MS 30000
// The widest table the manager draws (src/protocol/messages.ts): wider terminals get that.
#define MAX_WIDTH 10000
// A status of 10,000 daemons is about 1.5 MB; a larger answer is dmctl's to read.
#define MAX_REPLY_BYTES (64 * 1024 * 1024)

static int node_argc;
static char **node_argv;

// Leaves the command to dmctl: `NODE --disable-sigusr1 BUNDLE ARGS...`, in this process.
static void decline(void) __attribute__((noreturn));
static void decline(void) {
  char **argv = calloc((size_t)node_argc + 3, sizeof *argv);
  if (argv != NULL) {
    argv[0] = node_argv[0];
    argv[1] = "--disable-sigusr1";
    for (int index = 1; index < node_argc; index++) argv[index + 1] = node_argv[index];
    execv(argv[0], argv);
  }
  fprintf(stderr, "dmctl: cannot run %s: %s\n", node_argv[0], strerror(errno));
  exit(127);
}

struct call {
  const char *config;
  int personal;
  const char *id;
};

// Only text that needs no escaping in JSON and none on a terminal.
static int plain_id(const char *id) {
  size_t length = strlen(id);
  if (length == 0 || length > MAX_ID || id[0] == '-') return 0;
  for (const unsigned char *c = (const unsigned char *)id; *c != 0; c++)
    if (*c < 0x20 || *c >= 0x7f || *c == '"' || *c == '\\') return 0;
  return 1;
}

// The commands that change something (CHANGES in src/cli/args.ts): `dmctl stop status`
// reads two ways (stop the daemon `status`, or the status of `stop`), which dmctl refuses.
static int changes_something(const char *word) {
  static const char *const changes[] = {"rescan", "start", "stop", "restart", "kill", "edit"};
  for (size_t index = 0; index < sizeof changes / sizeof *changes; index++)
    if (strcmp(word, changes[index]) == 0) return 1;
  return 0;
}

// The plain forms of status, as src/cli/args.ts reads them; 0 for anything else (dmctl
// then says what is wrong: two --config, two command words that read two ways).
static int read_args(int argc, char **argv, struct call *call) {
  const char *words[2];
  int count = 0;
  for (int index = 0; index < argc; index++) {
    const char *arg = argv[index];
    if (strcmp(arg, "--config") == 0 || strcmp(arg, "-c") == 0) {
      if (++index == argc || call->config != NULL) return 0;
      call->config = argv[index];
    } else if (strncmp(arg, "--config=", 9) == 0) {
      if (call->config != NULL) return 0;
      call->config = arg + 9;
    } else if (strcmp(arg, "--personal") == 0) {
      call->personal = 1;
    } else if (arg[0] == '-' || count == 2) {
      return 0;
    } else {
      words[count++] = arg;
    }
  }
  if (count == 0) return 1;
  if (count == 1) return strcmp(words[0], "status") == 0;
  // `dmctl ID status`: the second word being a command decides, whatever the first is.
  if (strcmp(words[1], "status") != 0 || !plain_id(words[0]) || changes_something(words[0]))
    return 0;
  call->id = words[0];
  return 1;
}

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// [start, end) without the spaces around it.
static void trim(const char **start, const char **end) {
  while (*start < *end && is_space(**start)) (*start)++;
  while (*end > *start && is_space((*end)[-1])) (*end)--;
}

// The master config's text if it is one dmctl reads without a doubt (root's alone, a
// regular file, ASCII); NULL for anything dmctl would have to judge or refuse.
static char *read_master(const char *path, size_t *size) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  char *text = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1 ||
      (st.st_mode & 022) != 0 || st.st_size > MAX_CONFIG_BYTES)
    goto done;
  text = malloc((size_t)st.st_size + 1);
  if (text == NULL) goto done;
  size_t total = 0;
  for (;;) {
    ssize_t got = read(fd, text + total, (size_t)st.st_size + 1 - total);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 || (size_t)got + total > (size_t)st.st_size) {
      free(text);  // an error, or the file grew meanwhile
      text = NULL;
      goto done;
    }
    if (got == 0) break;
    total += (size_t)got;
  }
  // Printable ASCII, tabs and newlines: a CR, a form feed or another control character
  // is read one way here and another by dmctl's own parser (a `[settings\r]`).
  for (size_t index = 0; index < total; index++)
    if (((unsigned char)text[index] < 0x20 && text[index] != '\n' && text[index] != '\t') ||
        (unsigned char)text[index] >= 0x7f) {
      free(text);
      text = NULL;
      goto done;
    }
  *size = total;
done:
  close(fd);
  return text;
}

// `socket-dir` of [settings] (src/config/master.ts: `#` starts a comment anywhere, the
// last setting counts), without trailing slashes, in `dir`; 0 if it cannot be told so.
static int socket_dir(const char *text, size_t size, char *dir, size_t room) {
  const char *value = DEFAULT_SOCKET_DIR, *value_end = value + strlen(value);
  int settings = 0;
  const char *end = text + size;
  for (const char *line = text; line < end;) {
    const char *next = memchr(line, '\n', (size_t)(end - line));
    const char *stop = next == NULL ? end : next;
    const char *hash = memchr(line, '#', (size_t)(stop - line));
    const char *start = line, *finish = hash == NULL ? stop : hash;
    trim(&start, &finish);
    line = next == NULL ? end : next + 1;
    if (start == finish) continue;
    if (*start == '[' && finish[-1] == ']' && finish - start >= 2) {
      const char *name = start + 1, *name_end = finish - 1;
      trim(&name, &name_end);
      settings = name_end - name == 8 && memcmp(name, "settings", 8) == 0;
      continue;
    }
    if (!settings) continue;
    const char *equals = memchr(start, '=', (size_t)(finish - start));
    if (equals == NULL) continue;
    const char *key = start, *key_end = equals;
    trim(&key, &key_end);
    if (key_end - key != 10 || memcmp(key, "socket-dir", 10) != 0) continue;
    const char *path = equals + 1, *path_end = finish;
    trim(&path, &path_end);
    if (path == path_end || *path != '/') return 0;  // refused there: dmctl says what it means
    value = path;
    value_end = path_end;
  }
  while (value_end - value > 1 && value_end[-1] == '/') value_end--;
  if ((size_t)(value_end - value) >= room) return 0;
  memcpy(dir, value, (size_t)(value_end - value));
  dir[value_end - value] = 0;
  return 1;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

// Does the path have a `.` or `..` component? dmctl joins paths lexically (path.join:
// `/a/b/../c` is `/a/c`), the kernel through `b`, which may be a link: such a path is
// dmctl's to judge.
static int dotted(const char *path) {
  for (const char *at = path; *at != 0;) {
    const char *slash = strchr(at, '/');
    size_t length = slash == NULL ? strlen(at) : (size_t)(slash - at);
    if ((length == 1 && at[0] == '.') || (length == 2 && at[0] == '.' && at[1] == '.'))
      return 1;
    if (slash == NULL) break;
    at = slash + 1;
  }
  return 0;
}

// The socket-dir as real directories in `real` (src/config/locate.ts trustedSocketDir):
// only if it and every directory above it are root's, it writable by root alone and those
// above it by others only with the sticky bit; 0 otherwise (dmctl says why it refuses).
static int trusted_dir(const char *dir, char *real, size_t room) {
  char resolved[PATH_MAX];
  if (realpath(dir, resolved) == NULL) return 0;
  if (strlen(resolved) >= room) return 0;
  strcpy(real, resolved);
  for (;;) {
    struct stat st;
    if (lstat(resolved, &st) != 0 || st.st_uid != 0) return 0;
    int others_write = (st.st_mode & 022) != 0;
    if (others_write && (strcmp(resolved, real) == 0 || (st.st_mode & S_ISVTX) == 0)) return 0;
    if (strcmp(resolved, "/") == 0) return 1;
    char *slash = strrchr(resolved, '/');
    if (slash == resolved) slash[1] = 0;
    else *slash = 0;
  }
}

// Where dmctl would ask (src/cli/locate.ts), in `socket`; 0 where it would have to judge.
static int locate(const struct call *call, char *socket, size_t room) {
  struct passwd *me = getpwuid(getuid());
  if (me == NULL || me->pw_dir[0] != '/' || dotted(me->pw_dir)) return 0;
  char personal[4096];
  const char *home_sep = strcmp(me->pw_dir, "/") == 0 ? "" : "/";
  if (snprintf(personal, sizeof personal, "%s%s.daemon-manager/dmctl.sock", me->pw_dir,
               home_sep) >= (int)sizeof personal)
    return 0;
  const char *config = call->config;
  if (config == NULL && !call->personal) {
    const char *from_env = getenv("DAEMON_MANAGER_CONFIG");
    if (from_env != NULL && from_env[0] != 0) config = from_env;
    for (size_t index = 0; config == NULL && index < 2; index++)
      if (exists(DEFAULT_CONFIGS[index])) config = DEFAULT_CONFIGS[index];
  }
  if (call->personal || config == NULL)
    return snprintf(socket, room, "%s", personal) < (int)room;
  size_t size = 0;
  char *text = read_master(config, &size);
  if (text == NULL) return 0;
  char dir[4096];
  int found = socket_dir(text, size, dir, sizeof dir);
  free(text);
  if (!found || dotted(dir)) return 0;
  const char *dir_sep = strcmp(dir, "/") == 0 ? "" : "/";
  char system[4096];
  if (snprintf(system, sizeof system, "%s%s%s.sock", dir, dir_sep, me->pw_name) >=
      (int)sizeof system)
    return 0;
  if (!exists(system) && exists(personal)) return snprintf(socket, room, "%s", personal) < (int)room;
  char real[PATH_MAX];
  if (!trusted_dir(dir, real, sizeof real)) return 0;
  const char *real_sep = strcmp(real, "/") == 0 ? "" : "/";
  return snprintf(socket, room, "%s%s%s.sock", real, real_sep, me->pw_name) < (int)room;
}

// Waits for `events` on fd, as dmctl's 30 s without activity; 0 when that time passed.
static int wait_for(int fd, short events) {
  struct pollfd poller = {.fd = fd, .events = events};
  for (;;) {
    int ready = poll(&poller, 1, REPLY_TIMEOUT_MS);
    if (ready >= 0) return ready;
    if (errno != EINTR) return -1;
  }
}

// Asks on `path`; the answer (NUL-terminated) or NULL when dmctl should ask instead.
static char *ask(const char *path, const char *request, size_t *length) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) return NULL;
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return NULL;
  char *reply = NULL;
  size_t size = 0, capacity = 0;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) goto failed;
  for (size_t sent = 0, total = strlen(request); sent < total;) {
    ssize_t wrote = send(fd, request + sent, total - sent, MSG_NOSIGNAL);
    if (wrote >= 0) sent += (size_t)wrote;
    else if (errno == EAGAIN) {
      if (wait_for(fd, POLLOUT) <= 0) goto failed;
    } else if (errno != EINTR)
      goto failed;
  }
  for (;;) {
    if (capacity - size < 65536) {
      capacity = capacity == 0 ? 262144 : capacity * 2;
      if (capacity > MAX_REPLY_BYTES) goto failed;
      char *grown = realloc(reply, capacity + 1);
      if (grown == NULL) goto failed;
      reply = grown;
    }
    ssize_t got = read(fd, reply + size, capacity - size);
    if (got > 0) {
      size += (size_t)got;
    } else if (got == 0) {
      break;
    } else if (errno == EAGAIN) {
      int ready = wait_for(fd, POLLIN);
      if (ready == 0) {
        // As dmctl says it (src/cli/client.ts).
        fprintf(stderr,
                "dmctl: no answer within %d s on %s: the manager is down while its keeper "
                "holds its socket (see its log, or systemctl status daemon-manager), or it "
                "is overloaded\n",
                REPLY_TIMEOUT_MS / 1000, path);
        exit(1);
      }
      if (ready < 0) goto failed;
    } else if (errno != EINTR) {
      goto failed;
    }
  }
  close(fd);
  reply[size] = 0;
  *length = size;
  return reply;
failed:
  close(fd);
  free(reply);
  return NULL;
}

static int hex4(const char *at, unsigned *code) {
  *code = 0;
  for (int index = 0; index < 4; index++) {
    char c = at[index];
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return 0;
    *code = *code * 16 + (unsigned)digit;
  }
  return 1;
}

// Decodes the JSON string starting after its opening quote at *at, in place; the end of
// the decoded text, with *at past the closing quote; NULL if it is not a valid string.
static char *json_string(char **at) {
  char *in = *at, *out = *at;
  for (;;) {
    unsigned char c = (unsigned char)*in;
    if (c == '"') break;
    if (c < 0x20) return NULL;  // the end of the reply too
    if (c != '\\') {
      *out++ = *in++;
      continue;
    }
    char escape = in[1];
    in += 2;
    const char *simple = strchr("\"\\/bfnrt", escape);
    if (escape != 0 && escape != 'u' && simple != NULL) {
      *out++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      continue;
    }
    unsigned code, low;
    if (escape != 'u' || !hex4(in, &code)) return NULL;
    in += 4;
    if (code >= 0xdc00 && code <= 0xdfff) return NULL;
    if (code >= 0xd800 && code <= 0xdbff) {
      if (in[0] != '\\' || in[1] != 'u' || !hex4(in + 2, &low) || low < 0xdc00 || low > 0xdfff)
        return NULL;
      in += 6;
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
    }
    // Never longer than its escape: at most 4 bytes for 6 or 12 characters.
    if (code < 0x80) {
      *out++ = (char)code;
    } else if (code < 0x800) {
      *out++ = (char)(0xc0 | code >> 6);
      *out++ = (char)(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      *out++ = (char)(0xe0 | code >> 12);
      *out++ = (char)(0x80 | (code >> 6 & 0x3f));
      *out++ = (char)(0x80 | (code & 0x3f));
    } else {
      *out++ = (char)(0xf0 | code >> 18);
      *out++ = (char)(0x80 | (code >> 12 & 0x3f));
      *out++ = (char)(0x80 | (code >> 6 & 0x3f));
      *out++ = (char)(0x80 | (code & 0x3f));
    }
  }
  *at = in + 1;
  return out;
}

static int skip(char **at, const char *expected) {
  size_t length = strlen(expected);
  if (strncmp(*at, expected, length) != 0) return 0;
  *at += length;
  return 1;
}

// Is [text, end) fit for a terminal as it is: no control character but newlines and,
// where colours were asked for, the colour sequences the table uses (ESC [ digits m)?
// The manager escapes what users wrote; this client takes nothing else on trust, and
// leaves anything else to dmctl.
static int printable(const char *text, const char *end, int colours) {
  for (const char *at = text; at < end; at++) {
    unsigned char c = (unsigned char)*at;
    if (c == 0xc2 && at + 1 < end && (unsigned char)at[1] >= 0x80 && (unsigned char)at[1] <= 0x9f)
      return 0;  // a C1 control (U+0080-U+009F), such as the CSI U+009B
    if ((c >= 0x20 && c != 0x7f) || c == '\n') continue;
    if (c != 0x1b || !colours || at + 1 >= end || at[1] != '[') return 0;
    at += 2;
    while (at < end && *at >= '0' && *at <= '9') at++;
    if (at >= end || *at != 'm') return 0;
  }
  return 1;
}

static int write_all(int fd, const char *text, size_t length) {
  while (length > 0) {
    ssize_t wrote = write(fd, text, length);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0 && errno == EAGAIN) {  // an output left non-blocking by whoever made it
      struct pollfd poller = {.fd = fd, .events = POLLOUT};
      if (poll(&poller, 1, -1) < 0 && errno != EINTR) return 0;
      continue;
    }
    if (wrote < 0) return 0;
    text += wrote;
    length -= (size_t)wrote;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "dmctl-status: run by bin/dmctl, as: dmctl-status NODE BUNDLE ARGS...\n");
    return 2;
  }
  node_argc = argc - 1;
  node_argv = argv + 1;
  struct call call = {0};
  char path[sizeof ((struct sockaddr_un *)0)->sun_path];
  if (!read_args(argc - 3, argv + 3, &call) || !locate(&call, path, sizeof path)) decline();

  // The table as dmctl draws it (src/cli/main.ts tableStyle): a terminal's width and
  // colours unless NO_COLOR or TERM=dumb; into a pipe, the original's layout.
  char table[64];
  int color = 0;
  if (isatty(STDOUT_FILENO)) {
    struct winsize size = {0};
    unsigned width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0
                         ? size.ws_col
                         : 80;
    if (width > MAX_WIDTH) width = MAX_WIDTH;
    const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
    color = (no_color == NULL || no_color[0] == 0) && (term == NULL || strcmp(term, "dumb"));
    snprintf(table, sizeof table, "{\"width\":%u,\"color\":%s}", width, color ? "true" : "false");
  } else {
    snprintf(table, sizeof table, "{\"color\":false}");
  }
  char request[512];
  snprintf(request, sizeof request, "{\"command\":\"status\"%s%s%s,\"table\":%s}\n",
           call.id == NULL ? "" : ",\"id\":\"", call.id == NULL ? "" : call.id,
           call.id == NULL ? "" : "\"", table);

  size_t length = 0;
  char *reply = ask(path, request, &length);
  if (reply == NULL) decline();
  // {"ok":true,"text":"...","notes":"..."} in that order (src/control/handlers.ts
  // statusText), and nothing else: a refusal or another shape is dmctl's to tell.
  char *at = reply, *text = NULL, *text_end = NULL, *notes = NULL, *notes_end = NULL;
  if (!skip(&at, "{\"ok\":true,\"text\":\"")) decline();
  text = at;
  if ((text_end = json_string(&at)) == NULL) decline();
  if (skip(&at, ",\"notes\":\"")) {
    notes = at;
    if ((notes_end = json_string(&at)) == NULL) decline();
  }
  if (!skip(&at, "}") || (at != reply + length && !(at[0] == '\n' && at + 1 == reply + length)))
    decline();
  if (!printable(text, text_end, color) || (notes != NULL && !printable(notes, notes_end, 0)))
    decline();
  // A reader gone (`dmctl status | head -1`) ends it with status 1, as it does dmctl.
  signal(SIGPIPE, SIG_IGN);
  if (!write_all(STDOUT_FILENO, text, (size_t)(text_end - text))) return 1;
  if (notes != NULL && !write_all(STDERR_FILENO, notes, (size_t)(notes_end - notes))) return 1;
  return 0;
}
