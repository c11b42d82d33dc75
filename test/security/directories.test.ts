import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWhen, spawnCollecting } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertManagerAnswers, processesWith, watchPaths } from './support.ts';

describe('directories and logs swapped for links cannot point the manager elsewhere', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let victim = '';
  let watched: { unchanged(): void };
  const dm = (): string => join(host.user('mallory').home, '.daemon-manager');
  const aliceDm = (): string => join(host.user('alice').home, '.daemon-manager');

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster(
      '[can_run_as]\n{alice}\n{mallory}\n',
      'log-max-size = 1K\nlog-keep = 2\ncooldown-step = 100ms\ncooldown-max = 100ms',
    );
    host.writeDaemon('alice', 'web', 'start=exec sleep 4000001\noutput=log\n', 0o600);
    // Root's files that a manager following links as root would write or read.
    victim = join(host.dir, 'victim');
    mkdirSync(victim, { mode: 0o755 });
    for (const name of ['mine.log', 'mine.log.1', 'race.log', 'race.conf'])
      writeFileSync(join(victim, name), `root's ${name}\n`, { mode: 0o644 });
    writeFileSync(join(victim, 'private.log'), "root's private log\n", { mode: 0o600 });
    mkdirSync(join(host.dir, 'rootonly'), { mode: 0o700 });
    writeFileSync(join(host.dir, 'rootonly', 'secret'), 'root only\n', { mode: 0o600 });
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
    await readWhen(join(aliceDm(), 'logs/web.log'), (text) => text.includes('starting'));
    watched = watchPaths([
      victim,
      ...['mine.log', 'mine.log.1', 'race.log', 'race.conf', 'private.log'].map((name) =>
        join(victim, name),
      ),
      join(host.dir, 'rootonly'),
      aliceDm(),
      join(aliceDm(), 'daemons'),
      join(aliceDm(), 'daemons/web.conf'),
      join(aliceDm(), 'logs'),
      join(aliceDm(), 'logs/web.log'),
      '/etc/shadow',
    ]);
  });
  after(() => host.cleanup());

  /** Replaces `path` (whatever it is) with a symlink to `target`, as mallory would. */
  function linkAs(path: string, target: string): void {
    rmSync(path, { recursive: true, force: true });
    symlinkSync(target, path);
  }

  /** Restores mallory's tree: real directories, one daemon config. */
  function restoreTree(): void {
    rmSync(dm(), { recursive: true, force: true });
    host.writeDaemon('mallory', 'mine', 'start=echo mine-ran; exec sleep 4000002\noutput=log\n');
    host.mkdirAs(host.user('mallory'), join(dm(), 'logs'));
  }

  /** Every process of the attack runs as mallory, and alice's daemon is untouched. */
  async function assertContained(): Promise<void> {
    for (const found of [...processesWith('4000002'), ...processesWith('4000003')])
      assert.equal(found.uid, host.user('mallory').uid, found.command);
    const alicePids = livePidsOfUid(host.user('alice').uid);
    const web = (await host.status('root')).find((d) => d.id === host.id('alice/web'));
    assert.deepEqual(alicePids, [web?.pid], 'alice runs her daemon and nothing else');
    watched.unchanged();
    await assertManagerAnswers(host, 'alice', 'mallory');
  }

  for (const [label, target] of [
    ['/etc', '/etc'],
    ['/root', '/root'],
    ["alice's tree", 'ALICE'],
  ] as const) {
    test(`~/.daemon-manager as a symlink to ${label} loads nothing of it and writes nothing there`, async () => {
      restoreTree();
      linkAs(dm(), target === 'ALICE' ? aliceDm() : target);
      const rescan = await host.dmctl('mallory', 'rescan');
      // alice's files are refused (and so listed as broken); in /etc mallory cannot make
      // her daemon directory, and /root she cannot list, which the rescan says (her files
      // cannot be read: what she ran before is kept, nothing is loaded).
      assert.equal(rescan.code, 1, rescan.stderr);
      if (target === '/root')
        assert.match(
          rescan.stdout,
          /^refused: the files of \S+ \(cannot list directory \(EACCES\)/m,
        );
      if (target === '/etc')
        assert.match(rescan.stdout, /^refused: the files of \S+ \(cannot create directory/m);
      for (const daemon of await host.status('mallory'))
        if (daemon.name !== 'mine')
          assert.equal(daemon.state, 'broken', `${daemon.id} was loaded from the link target`);
      if (target === 'ALICE')
        assert.match(
          rescan.stderr,
          new RegExp(
            `web\\.conf: error: refused: (permission denied|is owned by uid ${host.user('alice').uid}|cannot be read)`,
          ),
        );
      await assertContained();
      assert.equal(existsSync('/etc/daemons'), false);
      assert.equal(existsSync('/etc/logs'), false);
    });
  }

  for (const [label, target] of [
    ['/etc', '/etc'],
    ['/root', '/root'],
    ["alice's daemons", 'ALICE'],
  ] as const) {
    test(`daemons/ as a symlink to ${label} loads nothing of it`, async () => {
      restoreTree();
      linkAs(join(dm(), 'daemons'), target === 'ALICE' ? join(aliceDm(), 'daemons') : target);
      await host.dmctl('mallory', 'rescan');
      // What the link leads to is not mallory's: listed as refused (broken), never loaded.
      for (const daemon of await host.status('mallory'))
        assert.equal(daemon.state, 'broken', `${daemon.id} was loaded`);
      await assertContained();
    });
  }

  for (const [label, target] of [
    ['/etc', '/etc'],
    ['/root', '/root'],
    ["alice's logs", 'ALICE'],
    ['a root-owned directory', 'VICTIM'],
  ] as const) {
    test(`logs/ as a symlink to ${label}: the log is not written there`, async () => {
      restoreTree();
      const dest =
        target === 'ALICE' ? join(aliceDm(), 'logs') : target === 'VICTIM' ? victim : target;
      linkAs(join(dm(), 'logs'), dest);
      await host.dmctl('mallory', 'rescan');
      const start = await host.dmctl('mallory', 'mine', 'start');
      assert.equal(start.code, 1, start.stdout);
      assert.match(start.stderr, /cannot open log file .*: permission denied to |refused/);
      assert.equal(existsSync(join(dest, 'mine.log')) && dest !== victim, false);
      await assertContained();
    });
  }

  test('a log pre-created as a symlink to a root-owned file is refused, the file untouched', async () => {
    restoreTree();
    symlinkSync(join(victim, 'mine.log'), join(dm(), 'logs/mine.log'));
    await host.dmctl('mallory', 'rescan');
    const start = await host.dmctl('mallory', 'mine', 'start');
    assert.equal(start.code, 1, start.stdout);
    assert.match(start.stderr, /is a symbolic link; refused/);
    assert.equal(readlinkSync(join(dm(), 'logs/mine.log')), join(victim, 'mine.log'));
    await assertContained();
  });

  test('a log pre-created as a hard link to a root-owned file is refused, the file untouched', async () => {
    restoreTree();
    linkSync(join(victim, 'private.log'), join(dm(), 'logs/mine.log'));
    try {
      await host.dmctl('mallory', 'rescan');
      const start = await host.dmctl('mallory', 'mine', 'start');
      assert.equal(start.code, 1, start.stdout);
      assert.match(
        start.stderr,
        /cannot open log file .*: permission denied to |is owned by uid 0|hard links/,
      );
      // dmctl cannot open it as mallory, so it asks the manager, which must refuse too.
      const read = await host.dmctl('mallory', 'mine', 'log');
      assert.equal(read.code, 1, read.stdout);
      assert.ok(!read.stdout.includes("root's private log"), 'the root file was not shown');
    } finally {
      rmSync(join(dm(), 'logs/mine.log'));
    }
    await assertContained();
  });

  test('swapping links in a tight loop while the daemon restarts never reaches root’s or alice’s files', async () => {
    restoreTree();
    const mallory = host.user('mallory');
    const real = join(mallory.home, 'dm.real');
    renameSync(dm(), real);
    mkdirSync(join(real, 'logs.d'));
    chownSync(join(real, 'logs.d'), mallory.uid, mallory.gid);
    rmSync(join(real, 'logs'), { recursive: true });
    symlinkSync('logs.d', join(real, 'logs'));
    symlinkSync(real, dm());
    const source = join(mallory.home, 'race.src');
    writeFileSync(source, 'start=echo race-ran; exec sleep 4000003\noutput=log\n');
    chownSync(source, mallory.uid, mallory.gid);
    // The links are mallory's, as if she had made them.
    for (const path of [join(real, 'logs'), dm()]) lchownSync(path, mallory.uid, mallory.gid);
    const swap = [
      `cd ${mallory.home}`,
      'echo swapping',
      'while :; do',
      '  ln -sfn dm.real t1 && mv -T t1 .daemon-manager',
      '  ln -sfn logs.d dm.real/t2 && mv -T dm.real/t2 dm.real/logs',
      '  cp race.src dm.real/daemons/t3 && mv -T dm.real/daemons/t3 dm.real/daemons/race.conf',
      `  ln -sfn ${aliceDm()} t1 && mv -T t1 .daemon-manager`,
      `  ln -sfn ${victim} dm.real/t2 && mv -T dm.real/t2 dm.real/logs`,
      `  ln -sfn ${join(aliceDm(), 'daemons/web.conf')} dm.real/daemons/t3 && mv -T dm.real/daemons/t3 dm.real/daemons/race.conf`,
      `  ln -sfn ${join(victim, 'race.conf')} dm.real/daemons/t3 && mv -T dm.real/daemons/t3 dm.real/daemons/race.conf`,
      'done',
    ].join('\n');
    const swapper = spawnCollecting(['runuser', '-u', mallory.name, '--', '/bin/sh', '-c', swap]);
    try {
      await waitFor('the swapper to start', () =>
        swapper.output().includes('swapping') ? true : undefined,
      );
      for (let round = 0; round < 40; round++) {
        await host.dmctl('mallory', 'rescan');
        await host.dmctl('mallory', 'race', 'restart');
      }
      assert.ok(swapper.child.exitCode === null, `the swapper ran throughout: ${swapper.output()}`);
    } finally {
      await swapper.stop();
    }
    await host.dmctl('mallory', 'race', 'stop');
    const logs = readdirSync(join(real, 'logs.d'));
    assert.ok(
      logs.every((name) => name.startsWith('race.log') || name.startsWith('mine.log')),
      logs.join(' '),
    );
    await assertContained();
    rmSync(dm(), { force: true });
    rmSync(real, { recursive: true, force: true });
  });

  test('dir= a directory only root can enter: the daemon never runs inside it', async () => {
    restoreTree();
    const out = join(host.user('mallory').home, 'inside');
    host.writeDaemon(
      'mallory',
      'nosy',
      `start=ls > ${out}; exec sleep 4000002\ndir=${join(host.dir, 'rootonly')}\noutput=log\n`,
    );
    await host.dmctl('mallory', 'rescan');
    const log = await readWhen(
      join(dm(), 'logs/nosy.log'),
      (text) => /can't cd|No such file|Permission denied/.test(text),
      'the daemon to say it cannot enter the directory',
    );
    assert.match(log, /Permission denied|can't cd/);
    await host.dmctl('mallory', 'nosy', 'stop');
    assert.equal(existsSync(out), false, 'the start line never ran');
    for (const pid of livePidsOfUid(host.user('mallory').uid)) {
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        continue;
      }
      assert.ok(!cwd.startsWith(join(host.dir, 'rootonly')), `pid ${pid} is in ${cwd}`);
    }
    await assertContained();
    chmodSync(join(host.dir, 'rootonly'), 0o700);
  });
});
