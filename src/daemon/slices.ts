import { performance } from 'node:perf_hooks';

/** How long a piece of one user's work may hold the event loop before others get a turn. */
export const SLICE_MS = 10;

/**
 * Cuts long synchronous work (a rescan judging a thousand configs) into slices of about
 * SLICE_MS: `pause()` gives the event loop back (setImmediate runs after the poll phase,
 * so requests and exits already waiting are handled first) once the slice is used up.
 * Another user's `dmctl status` or respawn then waits one slice, not the whole rescan.
 */
export class Slicer {
  private since = performance.now();
  private readonly sliceMs: number;

  constructor(sliceMs = SLICE_MS) {
    this.sliceMs = sliceMs;
  }

  /** Yields to the event loop if this slice is used up; resolves at once otherwise. */
  async pause(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
