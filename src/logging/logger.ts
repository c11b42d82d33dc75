import { printable } from '../protocol/printable.ts';

/** The manager's own log: one line per event on stderr, with time and level (journald reads it as is). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** A logger writing `2026-11-26T08:30:00.123Z info message` lines to a stream. */
export function createLogger(
  verbose: boolean,
  write: (line: string) => void = writeStderr,
): Logger {
  const emit = (level: Level, message: string): void =>
    write(`${new Date().toISOString()} ${level} ${printable(message)}\n`);
  return {
    debug: (message) => {
      if (verbose) emit('debug', message);
    },
    info: (message) => emit('info', message),
    warn: (message) => emit('warn', message),
    error: (message) => emit('error', message),
  };
}

function writeStderr(line: string): void {
  process.stderr.write(line);
}
