import type { Logger } from '../../src/logging/logger.ts';

/** A Logger that keeps every line it is given, whatever its level, in `lines`. */
export function collecting(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const add = (text: string) => lines.push(text);
  return {
    lines,
    log: { debug: add, info: add, warn: add, error: add, reopen() {}, drain: async () => {} },
  };
}
