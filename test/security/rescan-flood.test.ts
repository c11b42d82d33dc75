import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { CLIENT, logSince, processesWith, socketOf, spawnAttack, waitForLog } from './support.ts';

const CONFIGS = 1000;
/** Configs of 240 KB: more than the 4 MiB read of one user's rescan. */
const BIG = 20;

/**
 * One user rescanning a directory as large as the manager allows (1,000 configs, 4 MiB
 * read) neither holds the event loop for the whole rescan nor without limit: another
 * user's request is answered in between, and past a minute's budget the rescans are
 * refused, to that user alone, saying when to try again.
 */
describe("mallory's rescans cannot hold up alice", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6000011\n');
    host.writeDaemon('mallory', 'mine', 'start=exec sleep 6000012\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
    const mallory = host.user('mallory');
    const dir = join(mallory.home, '.daemon-manager/daemons');
    const filler = `# ${'x'.repeat(97)}\n`.repeat(2_400);
    // 3 KB of variables each: 3 MB of lines to parse, within the 4 MiB a rescan reads.
    const exports = Array.from({ length: 30 }, (_, n) => `export V${n}=${'v'.repeat(90)}\n`).join(
      '',
    );
    for (let index = 0; index < CONFIGS; index++) {
      const file = join(dir, `big${String(index).padStart(4, '0')}.conf`);
      // The big ones last: the others before them are all read and judged, which takes long
      // enough for alice's request to come in the middle, on a quiet machine too (the big
      // ones first used up the read and left almost nothing to judge).
      const big = index >= CONFIGS - BIG;
      writeFileSync(file, `start=exec sleep 6000013\nautostart=no\n${big ? filler : exports}`);
      chownSync(file, mallory.uid, mallory.gid);
    }
    for (let index = 0; index < 3; index++) {
      const file = join(dir, `bad name ${index}.conf`);
      writeFileSync(file, '');
      chownSync(file, mallory.uid, mallory.gid);
    }
  });
  afterEach(showLogIfFailed(() => host.managerLog.slice(-6000)));
  after(() => cleanUp(host));

  test("alice's status is answered while mallory's rescan is being judged", async () => {
    const status = Buffer.from('{"command":"status"}\n').toString('base64');
    const client = spawnAttack(host, 'alice', 'on-signal', socketOf(host, 'alice'), status);
    try {
      await waitFor("alice's client to connect", () =>
        /ready/.test(client.output()) ? true : undefined,
      );
      const [asker] = processesWith(`${CLIENT} on-signal`).filter(
        (process) => process.uid === host.user('alice').uid,
      );
      assert.ok(asker, "alice's client runs");
      const from = host.managerLog.length;
      const rescan = host.dmctl('mallory', 'rescan');
      await waitForLog(host, from, /rescan of \S+mallory: \d+ config files read; judging them/);
      process.kill(asker.pid, 'SIGUSR1');
      const reply = await waitFor("alice's answer", () => {
        const line = client
          .output()
          .split('\n')
          .find((text) => text.startsWith('{'));
        return line === undefined ? undefined : (JSON.parse(line) as { reply: string }).reply;
      });
      assert.match(reply, /^\{"ok":true,/);
      const said = await rescan;
      // 1,001 valid names (mine and the big ones): one too many; the badly named files are
      // counted apart, not as daemons.
      assert.match(said.stderr, /more than 1000 daemon files; 1 more are ignored/);
      // An outside review: `mine`, loaded before, sorts after the new files and was
      // removed (its daemon forgotten) to make room, and the rescan exited 0. The new
      // file is the one left out, and the rescan says it refused it.
      assert.doesNotMatch(said.stdout, /removed:/, said.stdout);
      assert.match(
        said.stdout,
        /1 \*\.conf files of \S+mallory \(past the 1000 daemons a user may have\)/,
      );
      assert.equal(said.code, 1, said.stdout);
      const mine = await host.status('mallory');
      assert.ok(
        mine.some(
          (row) => row.id === `${host.user('mallory').name}/mine` && row.state === 'running',
        ),
        'mine still runs',
      );
      assert.match(said.stderr, /bad name 2\.conf: warning: ignored: a daemon name uses/);
      await waitForLog(host, from, /rescan of \S+mallory: done/);
      const log = logSince(host, from);
      const judging = log.search(/rescan of \S+mallory: \d+ config files read/);
      const answered = log.indexOf(`control: answered ${host.user('alice').name}'s status`);
      const done = log.search(/rescan of \S+mallory: done/);
      assert.ok(
        judging < answered && answered < done,
        `alice answered at ${answered}, the rescan judged from ${judging} to ${done}`,
      );
    } finally {
      await client.stop();
    }
  });

  test('a manager started again after a kill -9 loads the same 1,000: mine runs on', async () => {
    const before_ = (await host.status('mallory')).find(
      (row) => row.id === host.id('mallory/mine'),
    );
    assert.ok(before_ && before_.pid > 0, 'mine runs');
    const manager = host.managerProcess();
    assert.ok(manager);
    const exited = new Promise((resolve) => manager.once('exit', resolve));
    manager.kill('SIGKILL');
    await exited;
    const from = host.managerLog.length;
    await host.startManager();
    const after_ = await host.waitForDaemon('mallory', 'mallory/mine', () => true, 'to be listed');
    assert.equal(after_.pid, before_.pid, 'mine was taken over, not stopped');
    assert.doesNotMatch(logSince(host, from), /mine: no config claims it/);
  });

  test("past a minute's budget mallory's rescans are refused, saying when to try again; alice's are not", async () => {
    let refusal: string | undefined;
    for (let attempt = 0; attempt < 40 && refusal === undefined; attempt++) {
      const rescan = await host.dmctl('mallory', 'rescan');
      if (/rescan refused/.test(rescan.stderr)) refusal = rescan.stderr;
    }
    assert.match(
      refusal ?? 'never refused',
      /rescan refused: your rescans cost more than 64 MiB of reading in the last minute .*; try again in \d+ s/,
    );
    const alice = await host.dmctl('alice', 'rescan');
    assert.equal(alice.code, 0, alice.stderr);
    const status = await host.dmctl('mallory', 'status');
    assert.equal(status.code, 0, 'a refused rescan leaves the rest of dmctl working');
  });
});

/**
 * A review found the budget charged to the owner of the files whatever asked: a manager
 * of others' rescans, root's, and the rescans of every user that followed each change of
 * /etc/passwd (which a user's chfn makes at will) locked out users who had done nothing,
 * while the one asking was never refused.
 */
describe('the rescan budget is charged to whoever asks', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const judgedBob = (from: number): number =>
    logSince(host, from).split(/rescan of \S+bob: \d+ config files read/).length - 1;

  before(async () => {
    host.user('carol');
    host.writeMaster('[can_run_as]\n{bob}\n[manages]\n{carol}: {bob}\n');
    const bob = host.user('bob');
    const dir = join(bob.home, '.daemon-manager/daemons');
    host.writeDaemon('bob', 'web', 'start=exec sleep 6000021\n');
    for (let index = 0; index < CONFIGS - 1; index++) {
      const file = join(dir, `many${String(index).padStart(4, '0')}.conf`);
      writeFileSync(file, 'start=exec sleep 6000022\nautostart=no\n');
      chownSync(file, bob.uid, bob.gid);
    }
    await host.startManager();
    await host.waitForDaemon('root', 'bob/web', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog.slice(-6000)));
  after(() => cleanUp(host));

  test("carol's rescans of bob's files are refused to carol, not to bob", async () => {
    let refusal: string | undefined;
    for (let attempt = 0; attempt < 60 && refusal === undefined; attempt++) {
      const rescan = await host.dmctl('carol', 'rescan');
      if (/rescan refused/.test(rescan.stderr)) refusal = rescan.stderr;
    }
    assert.match(refusal ?? 'never refused', /rescan refused: your rescans cost more/);
    const bob = await host.dmctl('bob', 'rescan');
    assert.equal(bob.code, 0, bob.stderr);
  });

  test("a change of /etc/passwd that leaves bob's rights alone reads none of his files", async () => {
    const from = host.managerLog.length;
    for (const comment of ['one', 'two', 'three']) {
      const mark = host.managerLog.length;
      execFileSync('usermod', ['-c', comment, host.user('bob').name]);
      await waitForLog(host, mark, /users and groups changed/);
    }
    // A change that does touch them (a group more) reads them again: the count can move.
    host.group('extra', ['bob']);
    await waitForLog(host, from, /rescan of \S+bob: done/);
    assert.equal(judgedBob(from), 1, 'one rescan of bob, for the group');
  });
});

/**
 * An outside review (48b, F1: 3 of 3 on a small state-dir): the configs a user's rescans
 * make the manager keep as last read (`state-dir/configs/`) took six bytes for each
 * control character of a value: 3.8 MB of files became a 24 MB file of root's, which
 * filled a small state directory (another user's `stop` could not be saved, and a restart
 * undid it), and rescans of files changed each time wrote 733 MiB a minute. A user's
 * copies now take at most 2 MiB, and what keeping them writes is charged to the rescan
 * budget of whoever asked, as what the rescan reads is.
 */
describe("mallory's configs as last read cannot fill root's state directory", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const mallory = (): ReturnType<TestHost['user']> => host.user('mallory');
  /** Four configs of 200,000 control characters each, told apart by `variant`. */
  const writeBig = (variant: number): void => {
    const dir = join(mallory().home, '.daemon-manager/daemons');
    for (let index = 0; index < 4; index++) {
      const file = join(dir, `ctl${index}.conf`);
      writeFileSync(file, `start=exec true ${variant} ${'\x01'.repeat(200_000)}\nautostart=no\n`);
      chownSync(file, mallory().uid, mallory().gid);
    }
  };

  before(async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n');
    host.writeDaemon('mallory', 'mine', 'start=exec sleep 6000031\n');
    await host.startManager();
    await host.waitForDaemon('root', 'mallory/mine', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog.slice(-6000)));
  after(() => cleanUp(host));

  test('her copies take at most 2 MiB, and rescans that change them are refused sooner', async () => {
    let rescans = 0;
    let refusal: string | undefined;
    // 0.8 MB read a rescan: 80 of them fit in the minute's 64 MiB; with the 4.8 MB that
    // keeping them would write charged too, about 12.
    for (; rescans < 40 && refusal === undefined; rescans++) {
      writeBig(rescans);
      const rescan = await host.dmctl('mallory', 'rescan');
      if (/rescan refused/.test(rescan.stderr)) refusal = rescan.stderr;
    }
    assert.match(refusal ?? 'never refused', /rescan refused: your rescans cost more/);
    assert.ok(rescans <= 20, `refused after ${rescans} rescans`);
    const copies = join(host.dir, 'state', 'configs');
    const kept = Number(execFileSync('du', ['-sb', copies], { encoding: 'utf8' }).split('\t')[0]);
    assert.ok(kept <= 2 * 1024 * 1024, `${kept} bytes kept in ${copies}`);
    assert.match(host.managerLog, /\S+mallory's daemon configs are not kept in /);
  });
});
