import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { uidOfPid } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { assertManagerAnswers, processesWith } from './support.ts';

describe('mallory cannot run a daemon as anyone she was not granted', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let round = 0;

  before(async () => {
    for (const short of ['alice', 'mallory', 'bob', 'carol', 'web']) host.user(short);
    host.group('ops', ['carol']);
    host.writeMaster(
      [
        '[can_run_as]',
        '{alice}',
        '{mallory}',
        '@{ops}: {web}        # granted to the members of ops; mallory is not one',
        '{bob}: {web}',
        '',
      ].join('\n'),
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  /**
   * Writes a daemon for mallory that would record its uid if it ever ran, asks for it to
   * start, and checks it was refused with `refusal` and that nothing ran.
   */
  async function assertRefused(userLine: string, refusal: RegExp): Promise<void> {
    round++;
    const marker = `20${String(round).padStart(4, '0')}7`;
    const ran = join(host.dir, `ran-${round}`);
    const name = `as${round}`;
    host.writeDaemon(
      'mallory',
      name,
      `start=id -u > ${ran}; exec sleep ${marker}\n${userLine}\nautostart=yes\n`,
    );
    const rescan = await host.dmctl('mallory', 'rescan');
    assert.equal(rescan.code, 1, `a refusal makes rescan fail: ${rescan.stdout}`);
    assert.match(rescan.stderr, refusal, `rescan of ${JSON.stringify(userLine)}`);
    const start = await host.dmctl('mallory', name, 'start');
    assert.equal(start.code, 1, `${userLine}: ${start.stdout}`);
    // A config with an error is never run: its daemon is listed as broken, with why.
    assert.match(start.stderr, refusal, userLine);
    const [daemon] = (await host.status('root')).filter((d) => d.id === host.id(`mallory/${name}`));
    assert.equal(daemon?.state, 'broken', userLine);
    assert.match(daemon?.problem ?? '', refusal, userLine);
    // Nobody's run: not listed as running as the account its file asked (48b, F2: `root`).
    assert.equal(daemon?.runAs, host.user('mallory').name, userLine);
    assert.equal(existsSync(ran), false, `${userLine}: the daemon ran`);
    assert.deepEqual(processesWith(`sleep ${marker}`), [], userLine);
    await assertManagerAnswers(host, 'alice', 'mallory');
  }

  const notAllowed = (short: string): RegExp =>
    new RegExp(`user '${short}' is not allowed for '${host.user('mallory').name}'`);

  test('user=root is refused, however it is written', async () => {
    await assertRefused('user=root', notAllowed('root'));
    await assertRefused('user =   root   # a comment', notAllowed('root'));
    await assertRefused('user=web\nuser=root', notAllowed('root'));
  });

  test('user=alice (another ordinary user) is refused', async () => {
    await assertRefused(`user=${host.user('alice').name}`, notAllowed(host.user('alice').name));
  });

  test('a numeric uid is not a user name, not even root’s 0 or alice’s uid', async () => {
    await assertRefused('user=0', /'user' must be a user name, not '0'/);
    const uid = String(host.user('alice').uid);
    await assertRefused(`user=${uid}`, new RegExp(`'user' must be a user name, not '${uid}'`));
    await assertRefused('user=#0', /no 'start=' line|must be a user name/);
  });

  test('a user that [can_run_as] grants to someone else is refused', async () => {
    await assertRefused(`user=${host.user('web').name}`, notAllowed(host.user('web').name));
  });

  test('a user granted only through a group mallory is not in is refused', async () => {
    // The grant is real: carol, a member of ops, may run as web.
    host.writeDaemon('carol', 'asweb', `start=exec sleep 2000999\nuser=${host.user('web').name}\n`);
    const rescan = await host.dmctl('carol', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    const running = await host.waitForDaemon(
      'carol',
      'carol/asweb',
      (d) => d.state === 'running',
      'to run',
    );
    assert.equal(uidOfPid(running.pid), host.user('web').uid);
    await assertRefused(`user=${host.user('web').name}`, notAllowed(host.user('web').name));
  });

  test('a user that does not exist is refused, and named as such', async () => {
    await assertRefused(
      `user=${host.prefix}nosuchuser`,
      new RegExp(`no such user '${host.prefix}nosuchuser'`),
    );
  });
});
