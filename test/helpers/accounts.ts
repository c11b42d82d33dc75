import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestHost } from './host.ts';

/** An account made again under the name of a sandbox user: its uid and home. */
export interface AccountAgain {
  readonly uid: number;
  readonly home: string;
}

/**
 * Deletes the account of `short` and makes another under its name (another uid, a new
 * home of its own); returns the new uid and home. The sandbox still removes it by name.
 */
export function makeAccountAgain(host: TestHost, short: string): AccountAgain {
  const old = host.user(short);
  const current = Number(execFileSync('id', ['-u', old.name]).toString());
  execFileSync('userdel', ['-f', old.name]);
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

/** Whether an account has this uid. */
function uidTaken(uid: number): boolean {
  try {
    execFileSync('getent', ['passwd', String(uid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
