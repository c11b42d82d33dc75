import { fstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from './logger.ts';
import { ResilientSink } from './resilient-sink.ts';
import {
  fileTarget,
  journalTarget,
  type RotationPolicy,
  type SendDatagram,
  stderrTarget,
  syslogTarget,
  type Target,
} from './targets.ts';

/** The journal's socket for the native protocol. */
export const JOURNAL_SOCKET = '/run/systemd/journal/socket';

/** What the manager's stderr is, as far as logging cares. */
export type StderrKind =
  | { readonly kind: 'journal' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'closed' }
  | { readonly kind: 'stream' };

export type Destination = 'syslog' | 'journal' | 'file' | 'stderr';

/**
 * Where the log goes, as admins of daemons expect: syslog when asked; the journal when
 * systemd runs the manager (its stderr is the journal's stream); the manager's own file
 * in the background (its stderr is that file) or when stderr is closed; else stderr.
 * `-d` keeps the log on stderr, as the original's did.
 */
export function chooseDestination(
  wantSyslog: boolean,
  debug: boolean,
  stderr: StderrKind,
): Destination {
  if (wantSyslog) return 'syslog';
  if (stderr.kind === 'closed') return 'file';
  if (debug) return 'stderr';
  if (stderr.kind === 'journal') return 'journal';
  return stderr.kind === 'file' ? 'file' : 'stderr';
}

/**
 * The variable in which a manager whose stderr is its log file tells its successor (an
 * upgrade inherits that stderr) the file's path. Descriptor 2 does not say it any more
 * once the file was rotated: it is then `NAME.log.1`, or deleted.
 */
const LOG_FILE_VARIABLE = 'DAEMON_MANAGER_LOG_FILE';

/**
 * Looks at descriptor 2; $JOURNAL_STREAM names the journal's stream as `device:inode`.
 * A file is known by the path its first manager found (see LOG_FILE_VARIABLE).
 */
export function inspectStderr(env: NodeJS.ProcessEnv): StderrKind {
  try {
    const stats = fstatSync(2);
    if (env.JOURNAL_STREAM !== undefined && env.JOURNAL_STREAM === `${stats.dev}:${stats.ino}`)
      return { kind: 'journal' };
    if (stats.isFile()) {
      const path = env[LOG_FILE_VARIABLE] ?? readlinkSync('/proc/self/fd/2');
      return { kind: 'file', path: path.replace(/ \(deleted\)$/, '') };
    }
    return { kind: 'stream' };
  } catch {
    return { kind: 'closed' };
  }
}

export interface LogOptions {
  readonly verbose: boolean;
  readonly debug: boolean;
  readonly syslog: string | undefined;
  /** The manager's own log file: where everything falls back to. */
  readonly ownFile: string;
  /** When that file rotates (the daemons' log settings; it always rotates). */
  readonly rotation: RotationPolicy;
}

/** Opens the manager's log with its fallbacks: whatever happens to it, the manager goes on. */
export function openLog(options: LogOptions, send: SendDatagram, env: NodeJS.ProcessEnv): Logger {
  const stderr = inspectStderr(env);
  if (stderr.kind === 'file') env[LOG_FILE_VARIABLE] = stderr.path;
  const destination = chooseDestination(options.syslog !== undefined, options.debug, stderr);
  const own = (): Target => fileTarget(options.ownFile, options.rotation);
  const open: Record<Destination, () => Target> = {
    syslog: () => syslogTarget(send, options.syslog ?? '/dev/log'),
    journal: () => journalTarget(send, JOURNAL_SOCKET),
    file: () =>
      stderr.kind === 'file' && stderr.path !== options.ownFile
        ? fileTarget(stderr.path)
        : fileTarget(options.ownFile, options.rotation),
    stderr: stderrTarget,
  };
  const sameFile =
    destination === 'file' && (stderr.kind !== 'file' || stderr.path === options.ownFile);
  return createLogger(options.verbose, new ResilientSink(open[destination], sameFile ? [] : [own]));
}

/** The manager's own log file in its state directory. */
export function ownLogFile(stateDir: string): string {
  return join(stateDir, 'daemon-manager.log');
}
