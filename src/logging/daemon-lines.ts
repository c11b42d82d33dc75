import type { Logger } from './logger.ts';
import { DAEMON_LINES, UserLines } from './user-lines.ts';

/**
 * The manager's log, with its lines about a user's daemons (`USER/NAME: ...`) held to
 * that user's DAEMON_LINES budget, as journald holds each service's: past it they are
 * counted, and the count is logged (see UserLines). An outside review (38a, F3) pushed the
 * 60 MB of a default rotated log out in about 70 minutes with one user's daemons
 * restarted in a loop; many daemons crashing in a loop did the same. Every other line,
 * and every line about root's daemons, goes through as it is; debug lines too (asked for).
 */
export class DaemonLines implements Logger {
  private readonly log: Logger;
  private readonly lines: UserLines;

  constructor(log: Logger, now: () => number = Date.now) {
    this.log = log;
    this.lines = new UserLines(log, now, DAEMON_LINES);
  }

  debug(message: string): void {
    this.log.debug(message);
  }

  info(message: string): void {
    const owner = ownerOf(message);
    if (owner === undefined) this.log.info(message);
    else this.lines.info(owner, message);
  }

  warn(message: string): void {
    const owner = ownerOf(message);
    if (owner === undefined) this.log.warn(message);
    else this.lines.warn(owner, message);
  }

  error(message: string): void {
    const owner = ownerOf(message);
    if (owner === undefined) this.log.error(message);
    else this.lines.error(owner, message);
  }

  reopen(): void {
    this.log.reopen();
  }

  drain(ms: number): Promise<void> {
    return this.log.drain(ms);
  }

  /** Says the counts of lines not logged (at the manager's end, before an upgrade). */
  tellUntold(): void {
    this.lines.tellUntold();
  }
}

/** The user whose daemon a line is about: the `USER` of a leading `USER/NAME: `. */
function ownerOf(message: string): string | undefined {
  return /^([^\s/:]+)\/[^\s/:]+: /.exec(message)?.[1];
}
