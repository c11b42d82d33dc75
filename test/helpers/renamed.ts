import { execFileSync } from 'node:child_process';
import { after, afterEach } from 'node:test';
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
