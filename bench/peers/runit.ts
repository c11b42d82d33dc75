import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childrenOf, commOf, killSurvivors, waitUntilDead } from '../measures/proc.ts';
import { debVersion, ensureDebPackages } from './install.ts';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { spawnLogged, stopChild } from './spawn.ts';

/**
 * runit: `runsvdir` on a temporary service directory; it starts one `runsv` per service,
 * which runs the service's `./run` (and `./log/run`, an `svlogd`, for a logged one).
 */
export class RunitPeer implements Peer {
  readonly name = 'runit';
  readonly notes = [
    '`runsvdir DIR` with one service directory per daemon, `run` = `#!/bin/sh` + `exec SCRIPT NAME`; the log test adds `log/run` = `exec svlogd LOGDIR` with `s0` (no rotation) in LOGDIR/config',
    'the supervisor is runsvdir + every runsv (+ svlogd in the log test)',
    'respawn: its default: at once if the service ran for a second or more, else after a second',
    'status: `sv status DIR/*` (every service directory as an argument)',
  ];

  install(): void {
    ensureDebPackages(['runit'], 'runsvdir');
  }

  versions(): Record<string, string> {
    return { runit: debVersion('runit') };
  }

  configure(dir: string, daemons: readonly DaemonDef[]): () => Running {
    const services = join(dir, 'service');
    const logRoot = join(dir, 'logs');
    mkdirSync(services, { recursive: true });
    for (const daemon of daemons) {
      const service = join(services, daemon.name);
      mkdirSync(service);
      writeFileSync(join(service, 'run'), `#!/bin/sh\nexec ${daemon.script} ${daemon.name}\n`, {
        mode: 0o755,
      });
      if (!daemon.capture) continue;
      const logDir = join(logRoot, daemon.name);
      mkdirSync(logDir, { recursive: true });
      writeFileSync(join(logDir, 'config'), 's0\n');
      mkdirSync(join(service, 'log'));
      writeFileSync(join(service, 'log', 'run'), `#!/bin/sh\nexec svlogd ${logDir}\n`, {
        mode: 0o755,
      });
    }
    const serviceDirs = daemons.map((daemon) => join(services, daemon.name));
    return () => {
      const child = spawnLogged(['runsvdir', services], join(dir, 'supervisor.out'));
      const pid = child.pid ?? 0;
      // runsvdir's children are the runsv processes; a runsv's children are its service's
      // main process and, for a logged service, svlogd.
      const runsvs = (): number[] => childrenOf(pid).filter((child) => commOf(child) === 'runsv');
      const supervisorPids = (): number[] => {
        const pids = [pid];
        for (const runsv of runsvs()) {
          pids.push(runsv);
          for (const child of childrenOf(runsv)) if (commOf(child) === 'svlogd') pids.push(child);
        }
        return pids;
      };
      return {
        supervisorPids,
        statusArgv: ['sv', 'status', ...serviceDirs],
        countRunning: (stdout) =>
          stdout.split('\n').filter((line) => line.startsWith('run: ')).length,
        logFileOf: (name) => join(logRoot, name, 'current'),
        stop: async () => {
          // SIGHUP would make runsvdir TERM every runsv and exit at once, leaving them to
          // PID 1, which here never reaps them: a thousand zombies a run, and this machine
          // has 32768 pids. Instead the service directories are moved out: at its next scan
          // (within a second) runsvdir TERMs each runsv whose directory is gone, the runsv
          // stops its service and exits, and runsvdir, still alive, reaps it.
          const parked = join(dir, 'service.stopped');
          mkdirSync(parked);
          const tracked = supervisorPids();
          for (const entry of readdirSync(services))
            renameSync(join(services, entry), join(parked, entry));
          const left = await waitUntilDead(
            tracked.filter((p) => p !== pid),
            30_000,
          );
          const killed = killSurvivors(left);
          killed.push(...(await stopChild(child, 'SIGTERM', 10_000)));
          return killed;
        },
      };
    };
  }
}
