/**
 * The file `dmctl edit NEW` begins with: every key, commented out, with what it does and
 * its default. Saved unchanged, it creates nothing (it has no `start=`).
 */
export function daemonTemplate(name: string, owner: string): string {
  return `# ${name}: a daemon of ${owner}, run by daemon-manager.
# '#' starts a comment. Remove the '#' before the lines you need; the file is checked
# before it is saved, and the daemon is loaded (and started) as soon as it is.

# Required: the command, one line of shell run by /bin/sh -c in dir (no exec needed:
# a stop reaches every process the daemon starts).
#start=./server --port 8080

# Working directory (default: /).
#dir=/srv/${name}

# Run as another user, if the admin allows it in [can_run_as] (default: ${owner}).
#user=${owner}

# log: keep stdout and stderr in its log, see 'dmctl ${name} log' (default: discard).
#output=log

# Start it when the manager starts (default: yes).
#autostart=yes

# Time between SIGTERM and SIGKILL when it is stopped (default: the admin's stop-timeout;
# at most their max-stop-timeout).
#stop_timeout=10s

# When it is respawned after it ends by itself: always (default), on-failure (a clean
# exit leaves it down as 'exited'), or no (a one-shot task: 'exited' or 'failed').
#restart=on-failure
# Exit statuses and signals that count as clean besides 0.
#success_exit=3 SIGHUP
# Wait before every respawn, doubled after each quick exit (within the admin's bounds).
#restart_delay=5s

# When it is ready (until then 'starting'; dmctl start --wait waits): notify (it sends
# READY=1 to $NOTIFY_SOCKET, as under systemd), tcp:HOST:PORT or unix:PATH accepts a
# connection, http://127.0.0.1:PORT/PATH answers 2xx, or exec:COMMAND, run as the daemon,
# exits 0.
#ready=tcp:127.0.0.1:8080
# Not ready by then is a failed start (default: 60s).
#ready_timeout=60s

# Checked while it runs (the same forms but notify); this many failures in a row
# restart it (defaults: every 30s, 5s each, 3 in a row).
#health=http://127.0.0.1:8080/health
#health_interval=30s
#health_timeout=5s
#health_retries=3
# It sends WATCHDOG=1 to $NOTIFY_SOCKET at least this often, or is restarted.
#watchdog=30s

# Rotate its log sooner, keep fewer old logs (default and most: the admin's settings).
#log_max_size=1M
#log_keep=3
# Prefix each log line with the time it was read (default: no).
#log_timestamps=yes

# Lower limits than the admin's (asking for more has no effect): open files, processes,
# core file size, address space.
#limit_nofile=1024
#limit_nproc=64
#limit_core=0
#limit_as=1G

# File-mode creation mask (default: 022; 007 lets your group use its files and sockets).
#umask=022

# Sockets the manager binds once and keeps while the daemon is wanted up (across
# respawns and restarts), passed as fd 3 onwards with LISTEN_FDS (systemd's way). One
# line each: unix:/PATH (made as you), tcp:127.0.0.1:PORT or tcp:[::1]:PORT (1024 and up).
#listen=unix:/srv/${name}/${name}.sock
# The socket file's mode and group (a group you are in); default 0660 and your group.
#listen_mode=0660
#listen_group=www-data
# 0: the one socket is standard input instead (FastCGI: php-cgi, spawn-fcgi).
#listen_fd=0

# Environment: the daemon gets HOME, LOGNAME, USER and PATH=/usr/bin:/bin, then these.
# Quotes are kept as they are.
#export PATH=/usr/local/bin:/usr/bin:/bin
`;
}
