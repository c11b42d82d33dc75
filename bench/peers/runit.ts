import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childrenOf, commOf, killSurvivors, waitUntilDead } from '../measures/proc.ts';
import { debVersion, ensureDebPackages } from './install.ts';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { spawnLogged, stopChild } from './spawn.ts';

/** runsvdir watches at most this many services (MAXSERVICES in runsvdir.c); it ignores the rest. */
const SERVICES_PER_RUNSVDIR = 1000;

/**
 * runit: `runsvdir` on a temporary service directory; it starts one `runsv` per service,
 * which runs the service's `./run` (and `./log/run`, an `svlogd`, for a logged one). Above
 * 1,000 services, one runsvdir per thousand, as runit's own limit requires.
 */
export class RunitPeer implements Peer {
  readonly name = 'runit';
  readonly respawnAfterUptimeMs = 1_500;
  readonly notes = [
    '`runsvdir DIR` with one service directory per daemon, `run` = `#!/bin/sh` + `exec SCRIPT NAME`; the log test adds `log/run` = `exec svlogd LOGDIR` with `s0` (no rotation) in LOGDIR/config',
    'above 1,000 daemons, one `runsvdir` per 1,000 service directories, all started at once: runsvdir supervises at most 1,000 services and ignores the others',
    'the supervisor is every runsvdir + every runsv (+ svlogd in the log test)',
    'respawn: its default: at once if the service ran for a second or more, else after a second',
    'status: `sv status DIR/*` (every service directory as an argument)',
  ];

  skipReason(): string | undefined {
    return undefined;
  }

  install(): void {
    ensureDebPackages(['runit'], 'runsvdir');
  }

  versions(): Record<string, string> {
    return { runit: debVersion('runit') };
  }

  configure(dir: string, daemons: readonly DaemonDef[]): () => Running {
    const logRoot = join(dir, 'logs');
    const shards = Math.max(1, Math.ceil(daemons.length / SERVICES_PER_RUNSVDIR));
    const shardDirs = Array.from({ length: shards }, (_, index) => join(dir, `service${index}`));
    const serviceDirs: string[] = [];
    for (const shardDir of shardDirs) mkdirSync(shardDir, { recursive: true });
    daemons.forEach((daemon, index) => {
      const service = join(
        shardDirs[Math.floor(index / SERVICES_PER_RUNSVDIR)] ?? dir,
        daemon.name,
      );
      serviceDirs.push(service);
      mkdirSync(service);
      writeFileSync(join(service, 'run'), `#!/bin/sh\nexec ${daemon.script} ${daemon.name}\n`, {
        mode: 0o755,
      });
      if (!daemon.capture) return;
      const logDir = join(logRoot, daemon.name);
      mkdirSync(logDir, { recursive: true });
      writeFileSync(join(logDir, 'config'), 's0\n');
      mkdirSync(join(service, 'log'));
      writeFileSync(join(service, 'log', 'run'), `#!/bin/sh\nexec svlogd ${logDir}\n`, {
        mode: 0o755,
      });
    });
    return () => {
      const children = shardDirs.map((shardDir, index) =>
        spawnLogged(['runsvdir', shardDir], join(dir, `supervisor${index}.out`)),
      );
      const runsvdirs = children.map((child) => child.pid ?? 0);
      // runsvdir's children are the runsv processes; a runsv's children are its service's
      // main process and, for a logged service, svlogd.
      const supervisorPids = (): number[] => {
        const pids = [...runsvdirs];
        for (const runsvdir of runsvdirs)
          for (const runsv of childrenOf(runsvdir).filter((pid) => commOf(pid) === 'runsv')) {
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
          const tracked = supervisorPids();
          shardDirs.forEach((shardDir, index) => {
            const parked = join(dir, `service${index}.stopped`);
            mkdirSync(parked);
            for (const entry of readdirSync(shardDir))
              renameSync(join(shardDir, entry), join(parked, entry));
          });
          const left = await waitUntilDead(
            tracked.filter((pid) => !runsvdirs.includes(pid)),
            30_000 + 10 * daemons.length,
          );
          const killed = killSurvivors(left);
          for (const child of children) killed.push(...(await stopChild(child, 'SIGTERM', 10_000)));
          return killed;
        },
      };
    };
  }
}
