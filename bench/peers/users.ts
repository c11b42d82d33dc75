import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** A user made for one run of the bench. */
export interface BenchUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/**
 * Creates `count` users named PREFIXu0, PREFIXu1, ... with homes under `homes` (which
 * their owners must be able to enter). `useradd -M -U`: no skeleton, a group each.
 */
export function createUsers(prefix: string, count: number, homes: string): BenchUser[] {
  const users: BenchUser[] = [];
  mkdirSync(homes, { recursive: true, mode: 0o755 });
  try {
    for (let index = 0; index < count; index++) {
      const name = `${prefix}u${index}`;
      const home = join(homes, name);
      execFileSync('useradd', ['-M', '-U', '-d', home, '-s', '/usr/sbin/nologin', name]);
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
      mkdirSync(home, { mode: 0o755 });
      chownSync(home, uid, gid);
      users.push({ name, uid, gid, home });
    }
  } catch (error) {
    removeUsers(users.map((user) => user.name));
    throw error;
  }
  return users;
}

/** Removes the users (and their groups); throws naming those that could not be removed. */
export function removeUsers(names: readonly string[]): void {
  const left = names.filter((name) => {
    try {
      execFileSync('userdel', ['-f', name], { stdio: 'ignore' });
    } catch {
      // Checked below.
    }
    return userExists(name);
  });
  if (left.length > 0) throw new Error(`could not remove the users ${left.join(', ')}`);
}

/** Whether a user still exists in the name service. */
export function userExists(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
