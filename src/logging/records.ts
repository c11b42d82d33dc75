import type { Level } from './logger.ts';

/** syslog(3) severities, also the journal's PRIORITY. */
const SEVERITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };
/** LOG_DAEMON, the original's facility. */
const FACILITY_DAEMON = 3;
const IDENTIFIER = 'daemon-manager';

/** A line of a text log (stderr, a file): `2026-11-26T08:30:00.123Z info message`. */
export function textLine(level: Level, message: string, now: Date): string {
  return `${now.toISOString()} ${level} ${message}\n`;
}

/**
 * A record of the journal's native protocol (systemd.journal-fields(7)): `FIELD=value`
 * lines. A value with a newline would need the binary form; the logger escapes them.
 */
export function journalRecord(level: Level, message: string): Buffer {
  return Buffer.from(
    `PRIORITY=${SEVERITY[level]}\nSYSLOG_FACILITY=${FACILITY_DAEMON}\nSYSLOG_IDENTIFIER=${IDENTIFIER}\nMESSAGE=${message}\n`,
  );
}

/**
 * A syslog message as syslog(3) sends it to /dev/log: `<PRI>TAG[PID]: message`. The
 * receiver (rsyslog, journald, busybox syslogd) stamps the time and host.
 */
export function syslogRecord(level: Level, message: string, pid: number): Buffer {
  return Buffer.from(`<${FACILITY_DAEMON * 8 + SEVERITY[level]}>${IDENTIFIER}[${pid}]: ${message}`);
}
