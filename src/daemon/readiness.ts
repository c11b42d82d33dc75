import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_READY_TIMEOUT_MS, describeReadyCheck, type ReadyCheck } from '../config/ready.ts';
import { formatElapsed } from '../supervisor/elapsed.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { KeeperProcesses } from './processes.ts';

/** One check never takes longer than this; the next waits from 100 ms up to a second. */
const PROBE_MS = 5_000;
const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 1_000;

/** Connects to a unix socket and exits 0 if it answers: run as the daemon's user. */
const UNIX_PROBE =
  "require('node:net').connect(process.argv[1]).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))";

/**
 * Checks a starting daemon's `ready=` until it passes (noteReady) or its ready_timeout
 * is over (noteNotReady), and gives up as soon as that run is no longer starting (it
 * exited, was stopped). A TCP port is tried by the manager (any local user may connect
 * to one); a unix socket and a command are tried by a run of the daemon itself, as its
 * user, so the manager never connects where that user could not.
 */
export class Readiness {
  private readonly supervisor: () => Supervisor;
  private readonly processes: KeeperProcesses;

  constructor(supervisor: () => Supervisor, processes: KeeperProcesses) {
    this.supervisor = supervisor;
    this.processes = processes;
  }

  /** Starts checking the run (one loop per run; it ends by itself). */
  watch(record: DaemonRecord, run: number): void {
    const check = record.spec.ready;
    if (check === undefined) return;
    const timeoutMs = record.spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    void this.loop(record, run, check, timeoutMs);
  }

  private async loop(
    record: DaemonRecord,
    run: number,
    check: ReadyCheck,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pause = FIRST_PAUSE_MS;
    while (isStarting(record, run)) {
      const ready = await this.probe(record, run, check, Math.min(PROBE_MS, deadline - Date.now()));
      if (!isStarting(record, run)) return;
      if (ready) {
        this.supervisor().noteReady(record, run);
        return;
      }
      if (Date.now() >= deadline) {
        const reason = `not ready after ${formatElapsed(timeoutMs)} (${describeReadyCheck(check)})`;
        this.supervisor().noteNotReady(record, run, reason);
        return;
      }
      await delay(Math.max(1, Math.min(pause, deadline - Date.now())));
      pause = Math.min(MAX_PAUSE_MS, pause * 2);
    }
  }

  private async probe(
    record: DaemonRecord,
    run: number,
    check: ReadyCheck,
    timeoutMs: number,
  ): Promise<boolean> {
    switch (check.kind) {
      case 'tcp':
        return acceptsTcp(check.host, check.port, timeoutMs);
      case 'unix': {
        const command = `exec ${quote(process.execPath)} -e ${quote(UNIX_PROBE)} ${quote(check.path)}`;
        return exitedZero(await this.processes.probe(record, run, command, timeoutMs));
      }
      case 'exec':
        return exitedZero(await this.processes.probe(record, run, check.command, timeoutMs));
    }
  }
}

function isStarting(record: DaemonRecord, run: number): boolean {
  const { state } = record;
  return state.kind === 'running' && state.run === run && state.starting === true;
}

function exitedZero(result: { code?: number | null; error?: string }): boolean {
  return result.error === undefined && result.code === 0;
}

/** A word for /bin/sh, quoted whatever it holds. */
function quote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** Does something accept a TCP connection there within `timeoutMs`? */
function acceptsTcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ready: boolean): void => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(Math.max(1, timeoutMs), () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
