import { type ExecFileException, execFile, execFileSync } from 'node:child_process';
import { ownChild } from '../process/own-children.ts';

/** The databases of the name service read in full. */
export type Database = 'passwd' | 'group';

/**
 * How long one `getent` may run. A name service that does not answer (an LDAP server
 * down behind nss_ldap or sssd, a hung systemd-userdbd) keeps it waiting as long as its
 * own timeouts say, minutes, or for ever; a full read of a large directory takes seconds.
 * Past this it is killed, and the manager goes on without it (see readNameServiceAsync).
 */
export const GETENT_DEADLINE_MS = 30_000;

const GETENT_OUTPUT_LIMIT = 64 * 1024 * 1024;

/** `getent DATABASE` that gave no usable answer, in words that name it (an Error at start-up). */
export class GetentFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GetentFailed';
  }
}

/** A `getent` that gave no usable answer: the command, and why in words that name it. */
export interface GetentFailure {
  readonly command: string;
  readonly failure: string;
  /** Killed because the caller gave up waiting (see getentAsync's `abandon`). */
  readonly abandoned: boolean;
}

/** How a `getent` ended without an answer, as both ways of running it report it. */
interface Ending {
  readonly deadline: boolean;
  readonly abandoned: boolean;
  readonly overLimit: boolean;
  /** Why it could not run (ENOENT...), if it did not. */
  readonly errno: string | undefined;
  readonly status: number | null;
  readonly signal: string | null;
  readonly stderr: string;
}

/** Runs `getent DATABASE`, blocking, for at most the deadline: for start-up and the command line. */
export function getentSync(database: Database): string {
  try {
    return execFileSync('getent', [database], {
      encoding: 'utf8',
      maxBuffer: GETENT_OUTPUT_LIMIT,
      timeout: GETENT_DEADLINE_MS,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & {
      status?: number | null;
      signal?: string | null;
      stderr?: string;
    };
    throw new GetentFailed(
      describeEnding(database, {
        deadline: failed.code === 'ETIMEDOUT',
        abandoned: false,
        overLimit: failed.code === 'ENOBUFS',
        errno: failed.status == null && failed.signal == null ? failed.code : undefined,
        status: failed.status ?? null,
        signal: failed.signal ?? null,
        stderr: failed.stderr ?? '',
      }),
    );
  }
}

/**
 * Runs `getent DATABASE` without blocking (for a reload), for at most the deadline, or
 * until `abandon` aborts: killed with SIGKILL then. Its text, or why there is none.
 */
export function getentAsync(
  database: Database,
  abandon: AbortSignal,
): Promise<string | GetentFailure> {
  return new Promise((resolve) => {
    const child = execFile(
      'getent',
      [database],
      {
        encoding: 'utf8',
        maxBuffer: GETENT_OUTPUT_LIMIT,
        timeout: GETENT_DEADLINE_MS,
        killSignal: 'SIGKILL',
        signal: abandon,
      },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout);
        const ending = endingOf(error, stderr, abandon);
        const failure = describeEnding(database, ending);
        resolve({ command: `getent ${database}`, failure, abandoned: ending.abandoned });
      },
    );
    // At once, before the loop runs again: the manager's Reaper, on the SIGCHLD of its
    // end, would reap it otherwise, and its `exit` (and this answer) would never come.
    ownChild(child);
  });
}

/**
 * What execFile reports: it kills the child itself (`killed`) at the deadline and past the
 * output limit (then with a code of its own); a kill by anyone else has `killed` false.
 */
function endingOf(error: ExecFileException, stderr: string, abandon: AbortSignal): Ending {
  const overLimit = error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
  const abandoned = abandon.aborted;
  return {
    deadline: error.killed === true && !overLimit && !abandoned,
    abandoned,
    overLimit,
    errno: typeof error.code === 'string' && !overLimit && !abandoned ? error.code : undefined,
    status: typeof error.code === 'number' ? error.code : null,
    signal: error.signal ?? null,
    stderr,
  };
}

/** `getent passwd gave no answer within 30 s (...)`: what an operator reads in the log. */
function describeEnding(database: Database, ending: Ending): string {
  const command = `getent ${database}`;
  if (ending.deadline)
    return `${command} gave no answer within ${GETENT_DEADLINE_MS / 1000} s (a name service not answering?)`;
  if (ending.abandoned) return `${command} abandoned`;
  if (ending.overLimit)
    return `${command} printed more than ${GETENT_OUTPUT_LIMIT / 1024 / 1024} MiB`;
  const said = ending.stderr.trim().split('\n').at(-1) ?? '';
  const detail = said === '' ? '' : ` (${said})`;
  if (ending.errno !== undefined) return `${command} could not run (${ending.errno})`;
  if (ending.signal !== null) return `${command} was killed by ${ending.signal}${detail}`;
  return `${command} failed with exit status ${ending.status}${detail}`;
}
