import { printable } from '../protocol/printable.ts';

/** The manager's own log: one line per event, with a level. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Reopens a log file (after an external logrotate); a no-op elsewhere. */
  reopen(): void;
  /** Before the manager exits: waits, at most `ms`, for lines a busy log still holds. */
  drain(ms: number): Promise<void>;
}

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** Where the lines go: stderr, a file, the journal, syslog (see sinks.ts). */
export interface Sink {
  /** Never throws and never blocks: a destination that fails is the sink's to handle. */
  write(level: Level, message: string): void;
  reopen(): void;
  drain(ms: number): Promise<void>;
}

/**
 * A logger over a sink; debug lines only when verbose. Every control character (a user's
 * newline, CR, ESC) is escaped: one event, one line, nothing a terminal obeys.
 */
export function createLogger(verbose: boolean, sink: Sink): Logger {
  const emit = (level: Level, message: string): void => sink.write(level, printable(message));
  return {
    debug: (message) => {
      if (verbose) emit('debug', message);
    },
    info: (message) => emit('info', message),
    warn: (message) => emit('warn', message),
    error: (message) => emit('error', message),
    reopen: () => sink.reopen(),
    drain: (ms) => sink.drain(ms),
  };
}
