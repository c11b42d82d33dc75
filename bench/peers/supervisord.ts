import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debVersion, ensureDebPackages } from './install.ts';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { skipAbove } from './skip.ts';
import { spawnLogged, stopChild } from './spawn.ts';

const SKIP_REASON =
  'not run above 1,000 daemons unless `--no-skip`: the goals at 10,000 compare with the original and runit only, and supervisord forks its children one at a time, each closing every descriptor up to `minfds` (which grows with N) in Python';

/**
 * supervisord's `minfds` for N programs: it keeps two descriptors per program (the
 * child's stdin and stdout pipes; stderr is redirected) and one more per log file, plus a
 * few of its own: 3 × N + 64 covers them. Every child closes each descriptor from 3 to `minfds` in Python before
 * its exec, so a `minfds` far above that (8,192 in the first runs) slows every start for
 * nothing; below it, children would inherit other programs' pipes. 1,024 is its default.
 */
export function fittedMinfds(count: number): number {
  return Math.max(1024, 3 * count + 64);
}

/** supervisord from Debian's `supervisor` package, in the foreground (`-n`) on a config of the run. */
export class SupervisordPeer implements Peer {
  readonly name = 'supervisord';
  readonly notes = [
    '`minfds` = max(1024, 3 × N + 64), fitted to N (two pipes per program, one log file in the log test); `minprocs` = max(200, N + 64)',
    'one `[program:NAME]` per daemon, `command=SCRIPT NAME`; output not captured: `stdout_logfile=NONE`, `redirect_stderr=true` (the log test: `stdout_logfile=FILE`, `stdout_logfile_maxbytes=0`)',
    'respawn: its defaults (`autorestart=unexpected`, `startsecs=1`): a process killed while RUNNING is restarted with no back-off, but only when its main loop next wakes: its poll times out once a second and Python retries the poll after a signal (PEP 475), so SIGCHLD does not wake it',
    'status: `supervisorctl -c FILE status`',
  ];
  readonly respawnAfterUptimeMs = 1_500;
  /** Why it is not run at a count (above 1,000 daemons unless `--no-skip`). */
  readonly skipReason: (count: number) => string | undefined;

  constructor(largest = 1000) {
    this.skipReason = skipAbove(largest, SKIP_REASON);
  }

  install(): void {
    ensureDebPackages(['supervisor'], 'supervisord');
  }

  versions(): Record<string, string> {
    const python = execFileSync('/usr/bin/python3', ['--version'], { encoding: 'utf8' }).trim();
    return { supervisord: debVersion('supervisor'), 'Python (its runtime)': python };
  }

  configure(dir: string, daemons: readonly DaemonDef[]): () => Running {
    const config = join(dir, 'supervisord.conf');
    const logDir = join(dir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const socket = join(dir, 'supervisor.sock');
    const sections = [
      `[unix_http_server]\nfile=${socket}\n`,
      `[supervisord]\nlogfile=${join(dir, 'supervisord.log')}\npidfile=${join(dir, 'supervisord.pid')}\nchildlogdir=${logDir}\nnodaemon=true\nminfds=${fittedMinfds(daemons.length)}\nminprocs=${Math.max(200, daemons.length + 64)}\n`,
      '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n',
      `[supervisorctl]\nserverurl=unix://${socket}\n`,
      ...daemons.map(
        (daemon) =>
          `[program:${daemon.name}]\ncommand=${daemon.script} ${daemon.name}\nredirect_stderr=true\n` +
          (daemon.capture
            ? `stdout_logfile=${join(logDir, `${daemon.name}.log`)}\nstdout_logfile_maxbytes=0\n`
            : 'stdout_logfile=NONE\n'),
      ),
    ];
    writeFileSync(config, sections.join('\n'));
    return () => {
      const child = spawnLogged(
        ['/usr/bin/supervisord', '-n', '-c', config],
        join(dir, 'supervisor.out'),
      );
      const pid = child.pid ?? 0;
      return {
        supervisorPids: () => [pid],
        statusArgv: ['/usr/bin/supervisorctl', '-c', config, 'status'],
        countRunning: (stdout) =>
          stdout.split('\n').filter((line) => /\bRUNNING\b/.test(line)).length,
        logFileOf: (name) => join(logDir, `${name}.log`),
        // SIGTERM: supervisord stops every program (SIGTERM each, waits) and exits.
        stop: () => stopChild(child, 'SIGTERM', 30_000),
      };
    };
  }
}
