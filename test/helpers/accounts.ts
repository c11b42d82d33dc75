import { type ChildProcess, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { TestHost } from './host.ts';
import { processState } from './proc.ts';
import { waitFor } from './wait.ts';

/** An account made again under the name of a sandbox user: its uid and home. */
export interface AccountAgain {
  readonly uid: number;
  readonly home: string;
}

/**
 * Deletes the account of `short` (if it is there: `deleteAccount` may have done so) and
 * makes another under its name (another uid, a new home of its own); returns the new uid
 * and home. The sandbox still removes it by name.
 */
export function makeAccountAgain(host: TestHost, short: string): AccountAgain {
  const old = host.user(short);
  // One change, as the manager sees it: its watch of /etc, reading between the delete and
  // the add on a loaded machine, saw the account gone (another case, which tests of their
  // own cover): a full run failed 3 tests that way. The manager is stopped meanwhile.
  return whileManagerStopped(host, () => {
    const current = uidOf(old.name);
    if (current !== undefined) deleteAccount(host, short);
    // Another uid (useradd would give the same one back when it was the highest), and a
    // free one: another account made again may have taken old.uid + 40,000 (useradd gives
    // its old uid, freed, to the next account made), and not the one just deleted.
    let uid = old.uid + 40_000;
    while (uid === current || uidTaken(uid)) uid++;
    const home = `${old.home}-${uid}`;
    execFileSync('useradd', ['-M', '-N', '-u', String(uid), '-d', home, old.name]);
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, uid, 100);
    return { uid, home };
  });
}

/**
 * Deletes the account `old` and makes it again with its name, uid and gid (as `userdel`
 * then `useradd` give the highest ones back) and a new home of its own, `HOME-again`;
 * returns it. The manager, if one runs, sees whatever it sees (kill it first for a change
 * made while no manager ran).
 */
export function makeAccountAgainSameUid(old: {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}): AccountAgain {
  execFileSync('userdel', ['-f', old.name]);
  return remakeAccount(old);
}

/**
 * Makes the account `old`, deleted, again with its name, uid and gid and a new home of its
 * own, `HOME-again` (see makeAccountAgainSameUid).
 */
export function remakeAccount(old: {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}): AccountAgain {
  execFileSync('groupadd', ['-f', '-o', '-g', String(old.gid), old.name]);
  const home = `${old.home}-again`;
  execFileSync('useradd', [
    '-M',
    '-o',
    '-u',
    String(old.uid),
    '-g',
    String(old.gid),
    '-d',
    home,
    old.name,
  ]);
  mkdirSync(home, { mode: 0o755 });
  chownSync(home, old.uid, old.gid);
  return { uid: old.uid, home };
}

/**
 * Runs `change` with the host's manager stopped (SIGSTOP, seen stopped, then SIGCONT), if
 * one runs and is not stopped already: it sees the change as one.
 */
export function whileManagerStopped<T>(host: TestHost, change: () => T): T {
  const pid = host.managerPid();
  const running = pid > 0 && !['T', 'Z', undefined].includes(processState(pid));
  if (!running) return change();
  process.kill(pid, 'SIGSTOP');
  try {
    const until = Date.now() + 5_000;
    while (processState(pid) !== 'T' && Date.now() < until) Atomics.wait(PAUSE, 0, 0, 1);
    return change();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Deletes the account of `short`, its processes left running (as `userdel -f` does); its
 * uid stays held by the sandbox (see TestHost.holdUid).
 */
export function deleteAccount(host: TestHost, short: string): void {
  const { name } = host.user(short);
  const uid = uidOf(name);
  if (uid !== undefined) host.holdUid(`${short}was${uid}`, uid);
  execFileSync('userdel', ['-f', name], { stdio: 'ignore' });
}

/** The uid of the account of that name, if there is one. */
function uidOf(name: string): number | undefined {
  try {
    return Number(
      execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    );
  } catch {
    return undefined;
  }
}

/** Writes a daemon config of an account made again, owned by it (its directories too). */
export function writeDaemonAgain(account: AccountAgain, name: string, text: string): void {
  const dir = join(account.home, '.daemon-manager/daemons');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, text);
  chmodSync(file, 0o644);
  for (const path of [join(account.home, '.daemon-manager'), dir, file])
    chownSync(path, account.uid, 100);
}

/** Kills the manager with SIGKILL (its keeper holds on) and waits for it to be gone. */
export async function killManager(manager: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => manager.once('exit', resolve));
  manager.kill('SIGKILL');
  await exited;
}

/**
 * Kills the process group of a run of `uid` (each run is a session of its own) if that
 * run is still there: a pid reused since, by anything else, is left alone.
 */
export function endRun(pid: number, uid: number): void {
  if (pid <= 0) return;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    if (!new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status)) return;
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** What the manager's state file says of a daemon, if anything. */
export function saved(
  host: TestHost,
  id: string,
):
  | { ownerUid?: number; ended?: string; state?: string; spec?: unknown; former?: true }
  | undefined {
  const file = join(host.dir, 'state', 'state.json');
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as {
    daemons?: Record<
      string,
      { ownerUid?: number; ended?: string; state?: string; spec?: unknown; former?: true }
    >;
  };
  return state.daemons?.[host.id(id)];
}

/** Whether an account has this uid. */
function uidTaken(uid: number): boolean {
  try {
    execFileSync('getent', ['passwd', String(uid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A daemon that says, line after line, the uid it runs as (its output logged). */
export const UID_TALKER =
  'start=while :; do echo "written by uid $(id -u)"; sleep 0.1; done\noutput=log\nstop_timeout=120\n';

/** Every line of every log file in a home (rotated ones too). */
export function logLines(home: string): string[] {
  const dir = join(home, '.daemon-manager/logs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n'));
}

/**
 * Upgrades the manager (SIGUSR2) and holds the new code (SIGSTOP) as soon as the old
 * manager hands over to it (the line that says so names it), runs `during`, then lets it
 * go on: whatever `during` does falls between the old manager's last look and the new one's.
 */
export async function whileSuccessorHeld(
  host: TestHost,
  describe: () => string,
  during: () => Promise<void>,
): Promise<void> {
  let successor = 0;
  const hold = (chunk: Buffer): void => {
    const said = /the new code is ready \(pid (\d+)\); handing over/.exec(chunk.toString());
    if (said === null || successor !== 0) return;
    successor = Number(said[1]);
    process.kill(successor, 'SIGSTOP');
  };
  const outputs = [host.managerProcess()?.stdout, host.managerProcess()?.stderr];
  for (const output of outputs) output?.on('data', hold);
  try {
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the old manager to hand over', () => (successor !== 0 ? true : undefined), {
      timeoutMs: 60_000,
      describe,
    });
    await during();
  } finally {
    for (const output of outputs) output?.off('data', hold);
    if (successor !== 0) process.kill(successor, 'SIGCONT');
  }
}

/**
 * Waits until the owner's stop is in the saved history (saved within a second: a crash
 * loses at most that second), so that a kill after it finds the stop on disk.
 */
export function stopSaved(host: TestHost): Promise<true> {
  return waitFor('the stop in the saved history', () =>
    readFileSync(join(host.dir, 'state', 'history.json'), 'utf8').includes('ran dmctl stop')
      ? true
      : undefined,
  );
}

/**
 * Renames accounts (and their groups) in one write of each of /etc/passwd, /etc/shadow,
 * /etc/group and /etc/gshadow, as an edit with `vipw` makes: `renames` maps old names to
 * new ones (a swap maps each to the other; to '': the account and its group deleted). The
 * manager reads it as one change.
 */
export function renameAtOnce(renames: Readonly<Record<string, string>>): void {
  for (const file of ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow']) {
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => renames[line.slice(0, line.indexOf(':'))] !== '')
      .map((line) => {
        const fields = line.split(':');
        const name = fields[0] ?? '';
        if (name in renames) fields[0] = renames[name] as string;
        if (file.includes('group') && fields.length >= 4) {
          const members = fields.at(-1) ?? '';
          fields[fields.length - 1] = members
            .split(',')
            .map((member) => renames[member] ?? member)
            .filter((member, index) => member !== '' || (index === 0 && members === ''))
            .join(',');
        }
        return fields.join(':');
      });
    const { mode, uid, gid } = statSync(file);
    const temporary = `${file}.dm-test`;
    writeFileSync(temporary, lines.join('\n'), { mode: mode & 0o7777 });
    chownSync(temporary, uid, gid);
    renameSync(temporary, file);
  }
}
