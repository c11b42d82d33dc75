import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isValidDaemonName } from '../../src/config/daemon.ts';
import { readWhen } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertManagerAnswers, dmctlBounded, sendAs, waitForLog, watchPaths } from './support.ts';

/** Every way of naming a daemon that is not mallory's, with the refusal it must get. */
function hostileIds(host: TestHost): { id: string; refusal: RegExp }[] {
  const alice = host.user('alice').name;
  const mallory = host.user('mallory').name;
  const notAllowed = /not allowed: you may not manage the daemons of/;
  const unknown = /unknown daemon/;
  return [
    { id: `${alice}/web`, refusal: notAllowed },
    { id: 'web', refusal: unknown },
    { id: 'root/rootd', refusal: notAllowed },
    { id: 'rootd', refusal: unknown },
    { id: `../${alice}/web`, refusal: notAllowed },
    { id: `${mallory}/../${alice}/web`, refusal: unknown },
    { id: `${mallory}/../../root/rootd`, refusal: unknown },
    { id: '/web', refusal: notAllowed },
    { id: `${alice}//web`, refusal: notAllowed },
    { id: 'web/', refusal: notAllowed },
    { id: `${alice}/web\nFAKE audit: root: stop: ok`, refusal: /control characters/ },
    { id: 'web\r', refusal: /control characters/ },
    { id: `${alice}/${'w'.repeat(5000)}`, refusal: /at most 300 characters/ },
    { id: `${alice.replace('a', '\u0430')}/web`, refusal: notAllowed },
    { id: `${alice}\uff0fweb`, refusal: unknown },
    { id: 'w\u0435b', refusal: unknown },
    { id: 'web\u200b', refusal: unknown },
  ];
}

const skip = process.getuid?.() !== 0 && 'needs root';

describe("mallory cannot reach another user's daemon by any name", { skip }, () => {
  const host = new TestHost();
  const LOG_SECRET = 'alice-log-secret-5e1f';
  let watched: { unchanged(): void };
  let pids: Record<string, number | undefined> = {};

  /** The pids of alice's and root's daemons, as root sees them. */
  async function daemonPids(): Promise<Record<string, number | undefined>> {
    const daemons = await host.status('root');
    const pidOf = (id: string): number | undefined => daemons.find((d) => d.id === id)?.pid;
    return { web: pidOf(host.id('alice/web')), rootd: pidOf('root/rootd') };
  }

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon(
      'alice',
      'web',
      `start=echo ${LOG_SECRET}; exec sleep 100011\noutput=log\n`,
      0o600,
    );
    host.writeDaemon('mallory', 'mine', 'start=exec sleep 100012\n');
    const rootDaemons = join(host.dir, 'root-daemons');
    mkdirSync(rootDaemons, { recursive: true });
    writeFileSync(join(rootDaemons, 'rootd.conf'), 'start=exec sleep 100013\n');
    chmodSync(join(rootDaemons, 'rootd.conf'), 0o600);
    await host.startManager();
    for (const id of ['alice/web', 'mallory/mine'])
      await host.waitForDaemon('root', id, (d) => d.state === 'running', 'to run');
    await waitFor('root/rootd to run', async () =>
      (await host.status('root')).some((d) => d.id === 'root/rootd' && d.state === 'running')
        ? true
        : undefined,
    );
    const aliceLog = join(host.user('alice').home, '.daemon-manager/logs/web.log');
    await readWhen(aliceLog, (text) => text.includes(LOG_SECRET));
    watched = watchPaths([
      host.daemonFile('alice', 'web'),
      aliceLog,
      join(host.user('alice').home, '.daemon-manager'),
      join(host.user('alice').home, '.daemon-manager/daemons'),
      join(host.user('alice').home, '.daemon-manager/logs'),
      join(rootDaemons, 'rootd.conf'),
    ]);
    pids = await daemonPids();
  });
  after(() => host.cleanup());

  /** After each attack: nothing of alice's or root's changed, and the manager answers. */
  async function assertNothingChanged(): Promise<void> {
    watched.unchanged();
    assert.deepEqual(await daemonPids(), pids, "alice's and root's daemons run on, untouched");
    await assertManagerAnswers(host, 'alice', 'mallory');
  }

  const commands: { name: string; args: (id: string) => string[] }[] = [
    { name: 'start', args: (id) => [id, 'start'] },
    { name: 'stop', args: (id) => [id, 'stop'] },
    { name: 'restart', args: (id) => [id, 'restart'] },
    { name: 'kill -9', args: (id) => [id, 'kill', '-9'] },
    { name: 'log', args: (id) => [id, 'log'] },
    { name: 'tail', args: (id) => [id, 'tail'] },
    { name: 'edit', args: (id) => [id, 'edit'] },
    { name: 'status', args: (id) => [id, 'status'] },
  ];
  for (const { name, args } of commands) {
    test(`${name} on alice's or root's daemon is refused, by full id, short name or a forged id`, async () => {
      for (const { id, refusal } of hostileIds(host)) {
        const result = await dmctlBounded(host, 'mallory', args(id), {
          VISUAL: '/bin/echo EDITOR-RAN',
          PAGER: 'cat',
        });
        const shown = JSON.stringify(id.slice(0, 60));
        if (name === 'edit' && isValidDaemonName(id)) {
          // A bare name she has no daemon of names a new daemon of hers: the editor opens
          // a template for it (and, left unchanged, creates nothing).
          assert.equal(result.code, 0, `${name} ${shown}: ${result.stdout}`);
          assert.match(
            result.stderr,
            new RegExp(`no changes: ${host.user('mallory').name}/${id} not created`),
          );
          continue;
        }
        assert.equal(result.code, 1, `${name} ${shown}: ${result.stdout}`);
        assert.match(result.stderr, refusal, `${name} ${shown}`);
        assert.ok(!result.stdout.includes(LOG_SECRET), `${name} ${shown} showed alice's log`);
        assert.ok(!result.stdout.includes('EDITOR-RAN'), `${name} ${shown} ran the editor`);
      }
      await assertNothingChanged();
    });
  }

  test('a NUL in an id, sent past dmctl, is refused for every command', async () => {
    const alice = host.user('alice').name;
    for (const command of ['start', 'stop', 'kill', 'info', 'read-log', 'status']) {
      for (const id of [`${alice}/web\u0000`, `${alice}\u0000/web`, 'web\u0000']) {
        const request = { command, id, signal: 'KILL', offset: 0 };
        const reply = await sendAs(host, 'mallory', `${JSON.stringify(request)}\n`);
        assert.deepEqual(reply, { ok: false, error: 'daemon id contains control characters' });
      }
    }
    await assertNothingChanged();
  });

  test("read-log, sent past dmctl, never returns alice's log", async () => {
    const alice = host.user('alice').name;
    for (const id of [`${alice}/web`, 'web', `${host.user('mallory').name}/../${alice}/web`]) {
      for (const offset of [0, -8192, 2 ** 52]) {
        const reply = await sendAs(
          host,
          'mallory',
          `${JSON.stringify({ command: 'read-log', id, offset })}\n`,
        );
        assert.equal(reply.ok, false, JSON.stringify(reply));
        assert.equal(reply.log, undefined);
      }
    }
    await assertNothingChanged();
  });

  test('the audit trail names who asked what of whose daemon, and why it was refused', async () => {
    const alice = host.user('alice').name;
    const mallory = host.user('mallory').name;
    const from = host.managerLog.length;
    await host.dmctl('mallory', `${alice}/web`, 'stop');
    await host.dmctl('mallory', 'web', 'kill', '-9');
    await host.dmctl('mallory', `${alice}/web`, 'status');
    const log = await waitForLog(host, from, /audit: .*status/);
    const lines = log.split('\n').filter((line) => line.includes(' audit: '));
    assert.ok(
      lines.some((line) =>
        line.endsWith(
          `audit: ${mallory}: stop "${alice}/web": refused: not allowed: you may not manage the daemons of '${alice}'`,
        ),
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) =>
        line.endsWith(`audit: ${mallory}: kill "web" "-9": refused: unknown daemon 'web'`),
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) => line.includes(`audit: ${mallory}: status "${alice}/web": refused:`)),
      lines.join('\n'),
    );
    const granted = host.managerLog.length;
    const ok = await host.dmctl('mallory', 'mine', 'restart');
    assert.equal(ok.code, 0, ok.stderr);
    await waitForLog(host, granted, new RegExp(`audit: ${mallory}: restart "${mallory}/mine": ok`));
  });

  test('a newline in an id cannot forge a line of the audit trail', async () => {
    const from = host.managerLog.length;
    const forged = 'web\n2026-01-01T00:00:00.000Z info audit: root: stop "x": ok';
    const result = await host.dmctl('mallory', forged, 'stop');
    assert.equal(result.code, 1);
    await waitForLog(host, from, /audit: .*stop .*control characters/);
    const lines = host.managerLog.slice(from).split('\n');
    assert.ok(
      lines.every((line) => !line.startsWith('2026-01-01T00:00:00.000Z')),
      lines.join('\n'),
    );
  });
});
