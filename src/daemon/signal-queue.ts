import { constants as osConstants } from 'node:os';

/** The signals the manager acts on. */
export const MANAGER_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;
export type QueuedSignal = (typeof MANAGER_SIGNALS)[number];

const isStop = (signal: QueuedSignal): boolean => signal === 'SIGTERM' || signal === 'SIGINT';

/**
 * The queue once `signal` came. A signal already waiting is not queued again: a reload
 * reads the config as it is when it runs, so any number of SIGHUPs that come while one
 * runs or waits make one more. A SIGTERM or SIGINT goes ahead of what waits, and the
 * reloads and upgrades waiting, or coming later, are dropped: the manager is stopping
 * (`stopping`: a stop was acted on already). A review's 2,000 SIGHUPs made 129 reloads one
 * after the other, and the SIGTERM sent meanwhile waited 11.7 s behind them.
 */
export function queueSignal(
  queued: readonly QueuedSignal[],
  signal: QueuedSignal,
  stopping: boolean,
): QueuedSignal[] {
  const stopComing = stopping || queued.some(isStop);
  if (isStop(signal))
    return stopComing ? [...queued] : [signal, ...queued.filter((s) => s === 'SIGUSR1')];
  if (queued.includes(signal) || (stopComing && signal !== 'SIGUSR1')) return [...queued];
  return [...queued, signal];
}

/**
 * Turns signals into events handled one at a time by the main loop, as s6 and runit do.
 * Installed before anything else: a signal that comes while the manager starts, or while
 * the new process of an upgrade starts, waits here (or, before this runs, in the catcher
 * bin/daemon-manager preloads: see `adoptEarly`) instead of killing it, and is acted on
 * once it runs.
 */
export class SignalQueue {
  private queue: QueuedSignal[] = [];
  private stopping = false;
  private act: ((signal: QueuedSignal) => Promise<void>) | undefined;
  private busy = false;
  private forward: ((signal: QueuedSignal) => boolean) | undefined;
  private readonly stopCame = new AbortController();
  private readonly listeners = new Map<QueuedSignal, () => void>();

  constructor() {
    for (const signal of MANAGER_SIGNALS) {
      const listener = (): void => this.push(signal);
      this.listeners.set(signal, listener);
      process.on(signal, listener);
    }
  }

  /**
   * Queues the signals that came before these handlers were in place, which
   * bin/daemon-manager's preloaded catcher kept (`bits`: a bit per signal number).
   */
  adoptEarly(bits: number): void {
    for (const signal of MANAGER_SIGNALS)
      if (Math.floor(bits / 2 ** osConstants.signals[signal]) % 2 === 1) this.push(signal);
  }

  /**
   * Aborted once a SIGTERM or SIGINT comes (the signal is its reason). Signals are acted on one after the other: an
   * act that waits long (a reload's getent on a name service that does not answer) gives
   * up for it, rather than hold the stop back until its deadline.
   */
  get stopComing(): AbortSignal {
    return this.stopCame.signal;
  }

  /** Signals received and not acted on yet. */
  get pending(): readonly QueuedSignal[] {
    return this.queue;
  }

  /** From now on each signal (and those queued) goes to `act`, one after the other. */
  deliverTo(act: (signal: QueuedSignal) => Promise<void>): void {
    this.act = act;
    void this.drain();
  }

  /**
   * Passes every signal (and those queued) on instead: to the new manager that takes over
   * in an upgrade, until it has. A signal it cannot take (it ended) waits here, and
   * `undefined` acts on them here again.
   */
  forwardTo(target: ((signal: QueuedSignal) => boolean) | undefined): void {
    this.forward = target;
    if (target === undefined) return;
    const queued = this.queue.splice(0);
    for (const signal of queued) this.push(signal);
  }

  /** Gives the signals back to Node's defaults (the manager did not start). */
  release(): void {
    for (const [signal, listener] of this.listeners) process.off(signal, listener);
  }

  private push(signal: QueuedSignal): void {
    if (this.forward?.(signal)) return;
    if (isStop(signal)) this.stopCame.abort(signal);
    this.queue = queueSignal(this.queue, signal, this.stopping);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.busy || this.act === undefined) return;
    this.busy = true;
    try {
      for (let signal = this.queue.shift(); signal !== undefined; signal = this.queue.shift()) {
        if (isStop(signal)) this.stopping = true;
        await this.act(signal);
      }
    } finally {
      this.busy = false;
    }
  }
}
