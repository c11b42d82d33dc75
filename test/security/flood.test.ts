import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  assertManagerAnswers,
  attack,
  CLIENT,
  clientOutcome,
  logSince,
  processesWith,
  socketOf,
  spawnAttack,
  waitForLog,
} from './support.ts';

/** The resident memory of a process, in bytes. */
function rssOf(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1];
  return Number(kib) * 1024;
}

const BAD_NAMES = 50_000;
const MB = 1024 * 1024;

/**
 * What one user can make the manager say, keep and send is bounded: 50,000 badly named
 * files cost a few lines (not megabytes) per reply and per log, and a client that does
 * not read its reply is cut off rather than buffered.
 */
describe("mallory's files and clients cannot make the manager say or hold without bound", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const dir = (): string => join(host.user('mallory').home, '.daemon-manager/daemons');

  before(async () => {
    host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6000001\n');
    host.writeDaemon('mallory', 'mine', 'start=exec sleep 6000002\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog.slice(-6000)));
  after(() => cleanUp(host));

  test(`${BAD_NAMES} badly named files make every reply and the log say a few lines`, async () => {
    for (let index = 0; index < BAD_NAMES; index++)
      writeFileSync(join(dir(), `bad name ${index}.conf`), '');
    const from = host.managerLog.length;
    const rescan = await host.dmctl('mallory', 'rescan');
    assert.equal(rescan.code, 1, 'the files are refused');
    assert.match(rescan.stdout, new RegExp(`refused: ${BAD_NAMES} \\*\\.conf files of `));
    assert.match(rescan.stderr, /\.\.\. and 49990 more \*\.conf files ignored for their names/);
    assert.ok(rescan.stdout.length + rescan.stderr.length < 4_000, `${rescan.stderr.length} bytes`);
    const logged = await waitForLog(host, from, /49990 more/);
    assert.ok(logged.length < 6_000, `the rescan logged ${logged.length} bytes`);

    const again = host.managerLog.length;
    await host.dmctl('mallory', 'rescan');
    await host.dmctl('mallory', 'rescan');
    await waitFor('both rescans to be audited', () =>
      (logSince(host, again).match(/audit: \S+: rescan/g)?.length ?? 0) >= 2 ? true : undefined,
    );
    assert.doesNotMatch(
      logSince(host, again),
      /bad name/,
      'the same problems are not logged again',
    );

    for (const [who, limit] of [
      ['mallory', 4_000],
      ['root', 1_000],
    ] as const) {
      const status = await host.dmctl(who, 'status');
      assert.equal(status.code, 0, status.stderr);
      assert.ok(status.stderr.length < limit, `${who}'s status said ${status.stderr.length} bytes`);
    }
    assert.match(
      (await host.dmctl('root', 'status')).stderr,
      /^11 config problems in the files of 1 other user you manage: dmctl problems/m,
    );
  });

  test('64 status replies left unread cost the manager little memory', async () => {
    const pid = host.managerPid();
    const before = rssOf(pid);
    const request = Buffer.from('{"command":"status"}\n').toString('base64');
    const client = spawnAttack(host, 'mallory', 'noread', socketOf(host, 'mallory'), request, '64');
    try {
      await waitFor('64 connections to be held', () =>
        /holding 64/.test(client.output()) ? true : undefined,
      );
      await assertManagerAnswers(host, 'alice');
      const grown = rssOf(pid) - before;
      assert.ok(grown < 64 * MB, `the manager grew by ${Math.round(grown / MB)} MB`);
    } finally {
      await client.stop();
    }
  });

  test('a client that does not read a large reply is cut off, and others are answered', async () => {
    // 999 daemons with long names: a status reply far larger than a socket's buffer.
    for (let index = 0; index < 999; index++)
      host.writeDaemon(
        'mallory',
        `d${String(index).padStart(4, '0')}${'x'.repeat(100)}`,
        'start=exec sleep 6000003\nautostart=no\n',
      );
    await host.dmctl('mallory', 'rescan');
    const request = Buffer.from('{"command":"status"}\n').toString('base64');
    const whole = await attack(host, 'mallory', 'send', socketOf(host, 'mallory'), request);
    const size = String(clientOutcome(whole.stdout).reply).length;
    assert.ok(size > 400_000, `the reply is ${size} bytes`);

    const from = host.managerLog.length;
    const client = spawnAttack(host, 'mallory', 'noread', socketOf(host, 'mallory'), request);
    try {
      await waitFor('the connection to be held', () =>
        /holding 1/.test(client.output()) ? true : undefined,
      );
      await assertManagerAnswers(host, 'alice', 'mallory');
      await waitForLog(
        host,
        from,
        /control: reply to \S+mallory cut off, \d+ bytes not read in 10s/,
      );
      const [reader] = processesWith(`${CLIENT} noread`).filter(
        (process) => process.uid === host.user('mallory').uid,
      );
      assert.ok(reader, 'the client runs');
      process.kill(reader.pid, 'SIGUSR1');
      const outcome = await waitFor('the client to read what it was sent', () => {
        const line = client
          .output()
          .split('\n')
          .find((text) => text.startsWith('{'));
        return line === undefined ? undefined : (JSON.parse(line) as { received: number });
      });
      assert.ok(outcome.received < size, `${outcome.received} of ${size} bytes came`);
    } finally {
      await client.stop();
    }
  });
});
