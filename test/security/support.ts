import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Spawned, spawnCollecting } from '../helpers/cli.ts';
import {
  type CommandResult,
  DMCTL,
  ROOT_DIR,
  run,
  SANDBOX_PREFIXES,
  type TestHost,
} from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/** The Node.js the project runs on, for attack clients run as a sandbox user. */
export const NODE = join(ROOT_DIR, 'node_modules/node/bin/node');
export const CLIENT = join(import.meta.dirname, 'client.ts');

/** What a path is, to the byte: compared before and after an attack. */
export interface PathState {
  readonly path: string;
  readonly exists: boolean;
  readonly type?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly mode?: string;
  readonly nlink?: number;
  readonly size?: number;
  readonly sha256?: string;
  readonly entries?: readonly string[];
}

/**
 * Test users of every run on this machine are named `dmt` and six hex digits: another
 * worktree's suite may be running at the same moment, creating and removing its own.
 */
const TEST_USER = /^dmt[0-9a-f]{6}/;

/** The system's accounts (uid below 1000, and nobody), as they were when the tests began. */
const SYSTEM_ACCOUNTS = new Set(
  readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .filter(([, , uid]) => uid !== undefined && (Number(uid) < 1000 || Number(uid) === 65534))
    .map(([name]) => name),
);

/** A line of /etc/shadow: nine fields, a name first. */
const SHADOW_ENTRY = /^([^:\s]+):(?:[^:]*:){7}[^:]*$/;

/**
 * The text of a file by which an attack is judged. /etc/shadow changes whenever anyone
 * adds or removes an account (test runs, other sessions on the machine); what must never
 * change is root's and the system's lines, and no other line may appear: the entries of
 * other accounts are left out, anything else (a daemon's output written there) is kept.
 */
function contentOf(path: string): Buffer {
  const bytes = readFileSync(path);
  if (path !== '/etc/shadow') return bytes;
  const kept = bytes
    .toString('utf8')
    .split('\n')
    .filter((line) => {
      const name = SHADOW_ENTRY.exec(line)?.[1];
      return name === undefined || SYSTEM_ACCOUNTS.has(name);
    });
  return Buffer.from(kept.join('\n'));
}

/** Describes a path without following a final symlink: owner, mode, links, content. */
export function stateOf(path: string): PathState {
  let stats: ReturnType<typeof lstatSync>;
  try {
    stats = lstatSync(path);
  } catch {
    return { path, exists: false };
  }
  const common = {
    path,
    exists: true,
    uid: stats.uid,
    gid: stats.gid,
    mode: (stats.mode & 0o7777).toString(8),
    nlink: stats.nlink,
  };
  if (stats.isFile()) {
    const content = stats.size > 16 * 1024 * 1024 ? undefined : contentOf(path);
    return {
      ...common,
      type: 'file',
      size: content?.length ?? stats.size,
      sha256:
        content === undefined
          ? `(${stats.size} bytes)`
          : createHash('sha256').update(content).digest('hex'),
    };
  }
  if (stats.isDirectory()) return { ...common, type: 'dir', entries: readdirSync(path).sort() };
  return { ...common, type: stats.isSymbolicLink() ? 'symlink' : 'other' };
}

/** Takes the state of several paths now; `unchanged()` asserts they are still the same. */
export function watchPaths(paths: readonly string[]): { unchanged(): void } {
  const before = paths.map(stateOf);
  return {
    unchanged: () => assert.deepEqual(paths.map(stateOf), before, 'files changed'),
  };
}

/**
 * The uids of test users of other runs on this machine (not of a sandbox of this
 * process): the same suite running in another worktree uses the same markers.
 */
function otherRunsUids(): Set<number> {
  const uids = new Set<number>();
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name = '', , uid] = line.split(':');
    if (TEST_USER.test(name) && !SANDBOX_PREFIXES.has(name.slice(0, 9))) uids.add(Number(uid));
  }
  return uids;
}

/**
 * Living processes whose command line contains `marker` (a word unique to one attack),
 * but for those of another test run's users.
 */
export function processesWith(marker: string): { pid: number; uid: number; command: string }[] {
  const others = otherRunsUids();
  const found: { pid: number; uid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ');
      if (!command.includes(marker) || !isAlive(Number(entry))) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'latin1');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (!others.has(uid)) found.push({ pid: Number(entry), uid, command });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Waits until no process carries `marker` any more. */
export function waitForNoProcessWith(marker: string, what: string): Promise<true> {
  return waitFor(
    `no process left of ${what}`,
    () => (processesWith(marker).length === 0 ? true : undefined),
    {
      describe: () => JSON.stringify(processesWith(marker)),
    },
  );
}

/** Asserts the manager still answers: root's and alice's status both work. */
export async function assertManagerAnswers(host: TestHost, ...users: string[]): Promise<void> {
  for (const user of ['root', ...users]) {
    const result = await host.dmctl(user, 'status');
    assert.equal(result.code, 0, `dmctl status as ${user}: ${result.stderr}`);
  }
}

/** The control socket of a sandbox user ('root' for root). */
export function socketOf(host: TestHost, short: string): string {
  const name = short === 'root' ? 'root' : host.user(short).name;
  return join(host.dir, 'run', `${name}.sock`);
}

/** Runs the attack client (client.ts) as a sandbox user. */
export function attack(host: TestHost, short: string, ...args: string[]): Promise<CommandResult> {
  return run(['runuser', '-u', host.user(short).name, '--', NODE, CLIENT], args);
}

/** Starts the attack client (client.ts) as a sandbox user, for the modes that keep running. */
export function spawnAttack(host: TestHost, short: string, ...args: string[]): Spawned {
  return spawnCollecting(['runuser', '-u', host.user(short).name, '--', NODE, CLIENT, ...args]);
}

/** Runs a shell command as a sandbox user. */
export function shellAs(host: TestHost, short: string, script: string): Promise<CommandResult> {
  return run(['runuser', '-u', host.user(short).name, '--', '/bin/sh', '-c', script], []);
}

/** The lines the manager logged since `from` (an index into host.managerLog). */
export function logSince(host: TestHost, from: number): string {
  return host.managerLog.slice(from);
}

/** Waits until the manager's log (from `from` on) matches. */
export function waitForLog(host: TestHost, from: number, pattern: RegExp): Promise<string> {
  return waitFor(
    `the manager to log ${pattern}`,
    () => (pattern.test(logSince(host, from)) ? logSince(host, from) : undefined),
    { describe: () => logSince(host, from).slice(-2000) },
  );
}

/**
 * Runs dmctl as a sandbox user with extra environment, for commands that would run on
 * (tail, an editor) if the manager let them: after `deadlineMs` it is killed and reported
 * with code -1, so a refusal that fails makes the test fail instead of hang. Standard
 * output and error are returned together.
 */
export async function dmctlBounded(
  host: TestHost,
  short: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  deadlineMs = 20_000,
): Promise<CommandResult> {
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  const spawned = spawnCollecting([
    'runuser',
    '-u',
    host.user(short).name,
    '--',
    'env',
    ...assignments,
    DMCTL,
    '--config',
    host.configFile,
    ...args,
  ]);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number>((resolve) => spawned.child.once('close', (exit) => resolve(exit ?? -1))),
    new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(-1), deadlineMs);
    }),
  ]);
  clearTimeout(timer);
  await spawned.stop();
  return { code, stdout: spawned.output(), stderr: spawned.output() };
}

/** The last JSON object the attack client printed. */
export function clientOutcome(stdout: string): Record<string, unknown> {
  // runuser may say "Session terminated..." on the same line when the client is killed.
  const line = stdout.split('\n').findLast((text) => text.includes('{"'));
  return JSON.parse(line?.slice(line.indexOf('{"')) ?? '{}') as Record<string, unknown>;
}

/** Sends one request as a sandbox user, past dmctl, and returns the manager's reply. */
export async function sendAs(
  host: TestHost,
  short: string,
  request: string | Buffer,
): Promise<Record<string, unknown>> {
  const bytes = typeof request === 'string' ? Buffer.from(request) : request;
  const result = await attack(host, short, 'send', socketOf(host, short), bytes.toString('base64'));
  const reply = clientOutcome(result.stdout).reply;
  assert.equal(typeof reply, 'string', `no reply: ${result.stdout}${result.stderr}`);
  return JSON.parse(String(reply)) as Record<string, unknown>;
}
