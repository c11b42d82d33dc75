import { execFileSync } from 'node:child_process';
import { after, afterEach } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { renameAtOnce } from './accounts.ts';
import { showLogIfFailed } from './cli.ts';
import { TestHost } from './host.ts';

/**
 * A host for a describe whose test renames the account `alice` to `bob` (`usermod -l`):
 * the manager's log shown if a test fails, and at the end the manager stopped and the
 * account given its old name back, so that the sandbox's cleanup finds it. `rename`
 * renames it, and throws as usermod does (an account with processes).
 */
export function renamingHost(): { host: TestHost; rename: () => void } {
  const host = new TestHost();
  let renamed = false;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    if (renamed) execFileSync('usermod', ['-l', host.user('alice').name, host.expand('{bob}')]);
    await host.cleanup();
  });
  const rename = (): void => {
    execFileSync('usermod', ['-l', host.expand('{bob}'), host.user('alice').name]);
    renamed = true;
  };
  return { host, rename };
}

/**
 * A host for a describe whose test renames `alice` through several names and may give her
 * old name to another account: `names.owner` is alice's account's name now (if renamed),
 * `names.other` the other account's (if made). At the end the manager is stopped, the
 * other account removed and alice's given her old name back.
 */
export function renamesHost(): { host: TestHost; names: { owner: string; other: string } } {
  const host = new TestHost();
  const names = { owner: '', other: '' };
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    if (names.other !== '') execFileSync('userdel', ['-f', names.other], { stdio: 'ignore' });
    if (names.owner !== '' && names.owner !== host.user('alice').name)
      execFileSync('usermod', ['-l', host.user('alice').name, names.owner]);
    await host.cleanup();
  });
  return { host, names };
}

/**
 * A host for a describe whose test renames accounts in one write (see renameAtOnce):
 * `rename(renames, undo)` writes `renames`, and at the end, the manager stopped, `undo` is
 * written so that the sandbox's cleanup finds every account by its old name.
 */
export function renamingAtOnceHost(): {
  host: TestHost;
  rename: (
    renames: Readonly<Record<string, string>>,
    undo: Readonly<Record<string, string>>,
  ) => void;
} {
  const host = new TestHost();
  let undoAtEnd: Readonly<Record<string, string>> | undefined;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    if (undoAtEnd) renameAtOnce(undoAtEnd);
    await host.cleanup();
  });
  const rename = (
    renames: Readonly<Record<string, string>>,
    undo: Readonly<Record<string, string>>,
  ): void => {
    undoAtEnd = undo;
    renameAtOnce(renames);
  };
  return { host, rename };
}

/**
 * Starts the manager with alice's daemon `name` (its `keys`, `user=` added) running as
 * carol, as usermod renames no account that has processes; alice and bob may run as
 * carol, and `more` is added to the master config. Returns its row once it runs.
 */
export async function startAsCarol(
  host: TestHost,
  name: string,
  keys: string,
  { more = '', settings = '' }: { more?: string; settings?: string } = {},
): Promise<DaemonStatus> {
  host.user('alice');
  host.user('carol');
  host.writeMaster(`[can_run_as]\n{alice}: {carol}\n{bob}: {carol}\n${more}`, settings);
  host.writeDaemon('alice', name, `${keys}user=${host.expand('{carol}')}\n`);
  await host.startManager();
  return host.waitForDaemon('alice', `alice/${name}`, (d) => d.pid > 0, 'to run');
}
