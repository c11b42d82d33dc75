import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits until `probe` returns a value other than undefined, checking every 25 ms, for
 * at most `timeoutMs`. On time-out the error says what was awaited and what was last
 * seen, so a failing test explains itself.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs?: number; describe?: () => string | Promise<string> } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const seen = options.describe ? await options.describe() : String(last ?? 'nothing');
      throw new Error(`timed out waiting for ${what}; last seen: ${seen}`);
    }
    await delay(25);
  }
}
