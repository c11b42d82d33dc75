import type { NotifyMessage } from '../notify/message.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { Watchdogs } from './watchdog.ts';

/** What a message of a daemon moves. */
export interface NotifyTargets {
  readonly supervisor: Supervisor;
  readonly watchdogs: Watchdogs;
  /** A line of the daemon's history (`dmctl why`). */
  readonly note: (text: string) => void;
}

/**
 * What one sd_notify message of a run's own process does (notify-hub.ts checked who sent
 * it), as systemd reads it: `STATUS=` is kept for the run; `READY=1` ends `starting`
 * (with `ready=notify`) or `reloading`; `RELOADING=1` and `STOPPING=1` are shown until
 * then; `WATCHDOG=1` puts the watchdog off and `WATCHDOG=trigger` fails it at once.
 */
export function applyNotify(
  record: DaemonRecord,
  run: number,
  message: NotifyMessage,
  targets: NotifyTargets,
): void {
  const { state } = record;
  if (state.kind !== 'running' || state.run !== run) return;
  const notified = record.notified ?? { run };
  record.notified = notified;
  if (message.status !== undefined) notified.status = message.status;
  if (message.stopping) {
    notified.phase = 'stopping';
    targets.note('STOPPING=1: it is stopping by itself');
  } else if (message.reloading && !state.starting) {
    notified.phase = 'reloading';
    targets.note('RELOADING=1: it is reloading');
  } else if (message.ready && notified.phase === 'reloading') {
    notified.phase = undefined;
    targets.note('READY=1: done reloading');
  }
  if (message.ready && state.starting && record.spec.ready?.kind === 'notify')
    targets.supervisor.noteReady(record, run);
  if (message.watchdog === 'ping') targets.watchdogs.ping(record, run);
  if (message.watchdog === 'trigger' && record.spec.watchdogMs !== undefined)
    targets.supervisor.noteUnhealthy(record, run, 'it sent WATCHDOG=trigger');
}
