import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  ftruncateSync,
  linkSync,
  openSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { assertManagerAnswers, processesWith, watchPaths } from './support.ts';

describe('config files planted in mallory’s directory are refused', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let round = 0;
  let rootFile = '';
  let watched: { unchanged(): void };

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.group('shared', ['mallory', 'alice']);
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 3000001\n');
    host.writeDaemon('mallory', 'mine', 'start=exec sleep 3000002\n');
    rootFile = join(host.dir, 'root-owned.conf');
    writeFileSync(rootFile, `start=id -u > ${join(host.dir, 'ran-root')}; exec sleep 3000003\n`);
    chmodSync(rootFile, 0o644);
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
    watched = watchPaths([
      '/etc/shadow',
      rootFile,
      host.daemonFile('alice', 'web'),
      join(host.user('alice').home, '.daemon-manager/daemons'),
    ]);
  });
  after(() => host.cleanup());

  /** A start line that leaves a trace if it ever runs. */
  function tracer(): { start: string; ran: string; marker: string } {
    round++;
    const ran = join(host.dir, `ran-${round}`);
    const marker = `30${String(round).padStart(4, '0')}9`;
    return { start: `start=id -u > ${ran}; exec sleep ${marker}\n`, ran, marker };
  }

  /**
   * Plants `NAME.conf` in mallory's daemon directory with `plant`, has her rescan and
   * start it, and checks the refusal names `reason`, nothing ran, and nothing changed.
   */
  async function assertRefused(
    name: string,
    plant: (path: string) => void,
    reason: RegExp,
    trace?: { ran: string; marker: string },
  ): Promise<void> {
    const path = join(host.user('mallory').home, '.daemon-manager/daemons', `${name}.conf`);
    plant(path);
    try {
      const rescan = await host.dmctl('mallory', 'rescan');
      assert.equal(rescan.code, 1, 'a rescan that refused a file exits non-zero');
      assert.match(rescan.stderr, new RegExp(`${name}\\.conf: error: refused: ${reason.source}`));
      assert.ok(rescan.stderr.length < 10_000, `the refusal is short (${rescan.stderr.length})`);
      assert.doesNotMatch(rescan.stderr, /\$y\$|\$6\$|root:[^ ]*:\d+:/, 'no line of /etc/shadow');
      const start = await host.dmctl('mallory', name, 'start');
      assert.equal(start.code, 1, start.stdout);
      assert.match(start.stderr, new RegExp(`unknown daemon '${name}'|${reason.source}`));
      if (trace) {
        assert.equal(existsSync(trace.ran), false, 'the planted config ran');
        assert.deepEqual(processesWith(`sleep ${trace.marker}`), []);
      }
    } finally {
      rmSync(path, { force: true });
    }
    // Once the planted link is gone, its target has its one link again.
    watched.unchanged();
    await assertManagerAnswers(host, 'alice', 'mallory');
  }

  test('a config owned by someone else is refused', async () => {
    const { start, ran, marker } = tracer();
    const alice = host.user('alice');
    await assertRefused(
      'byalice',
      (path) => {
        writeFileSync(path, start);
        chownSync(path, alice.uid, alice.gid);
      },
      new RegExp(`is owned by uid ${alice.uid}, not by ${host.user('mallory').name}`),
      { ran, marker },
    );
  });

  test('a group-writable config (of a group others are in) is refused', async () => {
    const { start, ran, marker } = tracer();
    const mallory = host.user('mallory');
    const shared = Number(
      execFileSync('getent', ['group', `${host.prefix}shared`])
        .toString()
        .split(':')[2],
    );
    await assertRefused(
      'groupw',
      (path) => {
        writeFileSync(path, start);
        chownSync(path, mallory.uid, shared);
        chmodSync(path, 0o664);
      },
      /is group-writable/,
      { ran, marker },
    );
  });

  test('a world-writable config is refused', async () => {
    const { start, ran, marker } = tracer();
    const mallory = host.user('mallory');
    await assertRefused(
      'worldw',
      (path) => {
        writeFileSync(path, start);
        chownSync(path, mallory.uid, mallory.gid);
        chmodSync(path, 0o646);
      },
      /is world-writable/,
      { ran, marker },
    );
  });

  test('a symlink to /etc/shadow is refused without reading it', async () => {
    await assertRefused('shadow', (path) => symlinkSync('/etc/shadow', path), /is a symbolic link/);
  });

  test("a symlink to alice's config is refused, and alice's daemon is not started as mallory", async () => {
    const before = (await host.status('root')).find((d) => d.id === host.id('alice/web'))?.pid;
    await assertRefused(
      'web',
      (path) => symlinkSync(host.daemonFile('alice', 'web'), path),
      /is a symbolic link/,
    );
    const daemons = await host.status('root');
    assert.equal(daemons.find((d) => d.id === host.id('alice/web'))?.pid, before);
    // Until the next rescan the refused file is still listed, as broken: never run.
    const planted = daemons.find((d) => d.id === host.id('mallory/web'));
    assert.equal(planted?.state ?? 'broken', 'broken');
  });

  test('a hard link to a root-owned file is refused', async () => {
    await assertRefused(
      'rootlink',
      (path) => linkSync(rootFile, path),
      /is owned by uid 0, not by /,
      { ran: join(host.dir, 'ran-root'), marker: '3000003' },
    );
    assert.equal(statSync(rootFile).nlink, 1, 'the link was removed again');
  });

  test("a hard link to alice's config is refused", async () => {
    await assertRefused(
      'alicelink',
      (path) => linkSync(host.daemonFile('alice', 'web'), path),
      new RegExp(`is owned by uid ${host.user('alice').uid}`),
    );
  });

  test('a hard link to her own config (two names, one file) is refused', async () => {
    await assertRefused(
      'minelink',
      (path) => linkSync(host.daemonFile('mallory', 'mine'), path),
      /has 2 hard links/,
    );
  });

  test('a FIFO does not hang the manager', async () => {
    const mallory = host.user('mallory');
    await assertRefused(
      'fifo',
      (path) => {
        execFileSync('mkfifo', [path]);
        chownSync(path, mallory.uid, mallory.gid);
      },
      /is not a regular file/,
    );
  });

  test('device files (/dev/zero, /dev/tty alike) are refused without being read', async () => {
    const mallory = host.user('mallory');
    for (const [name, minor] of [
      ['zero', '5'],
      ['random', '8'],
    ] as const) {
      await assertRefused(
        name,
        (path) => {
          execFileSync('mknod', [path, 'c', '1', minor]);
          chownSync(path, mallory.uid, mallory.gid);
        },
        /is not a regular file/,
      );
    }
  });

  test('a 100 MB config is refused unread (a sparse file: no disk used)', async () => {
    const mallory = host.user('mallory');
    await assertRefused(
      'huge',
      (path) => {
        const fd = openSync(path, 'w', 0o644);
        ftruncateSync(fd, 100 * 1024 * 1024);
        closeSync(fd);
        chownSync(path, mallory.uid, mallory.gid);
      },
      /is larger than \d+ bytes/,
    );
  });

  test('binary garbage is refused', async () => {
    const mallory = host.user('mallory');
    const garbage = Buffer.concat([Buffer.from('start=sleep 1\n'), randomBytes(4096)]);
    garbage[20] = 0;
    await assertRefused(
      'garbage',
      (path) => {
        writeFileSync(path, garbage);
        chownSync(path, mallory.uid, mallory.gid);
      },
      /contains NUL bytes|is not valid UTF-8/,
    );
    await assertRefused(
      'latin1',
      (path) => {
        writeFileSync(path, Buffer.from([...Buffer.from('start=echo '), 0xe9, 0xff, 0x0a]));
        chownSync(path, mallory.uid, mallory.gid);
      },
      /is not valid UTF-8/,
    );
  });

  test('100,000 export lines are refused, and so are 1,001 within the size limit', async () => {
    const mallory = host.user('mallory');
    const { start, ran, marker } = tracer();
    const many = (count: number): string =>
      start + Array.from({ length: count }, (_, index) => `export V${index}=1\n`).join('');
    await assertRefused(
      'exports',
      (path) => {
        writeFileSync(path, many(100_000));
        chownSync(path, mallory.uid, mallory.gid);
      },
      /is larger than \d+ bytes/,
      { ran, marker },
    );
    const path = join(host.user('mallory').home, '.daemon-manager/daemons/exports2.conf');
    writeFileSync(path, many(1001));
    chownSync(path, mallory.uid, mallory.gid);
    try {
      const rescan = await host.dmctl('mallory', 'rescan');
      assert.match(
        rescan.stderr,
        /exports2\.conf:\d+: error: too many export lines \(at most 1000\)/,
      );
      assert.equal(existsSync(ran), false);
    } finally {
      rmSync(path);
    }
  });

  test('very long lines cost the manager nothing and are not echoed back whole', async () => {
    const mallory = host.user('mallory');
    // mallory's own daemon, left stopped: a warning alone does not refuse a file.
    const marker = '3000077';
    const start = `start=exec sleep ${marker}\nautostart=no\n`;
    const long = 'A'.repeat(200_000);
    const path = join(host.user('mallory').home, '.daemon-manager/daemons/long.conf');
    for (const line of [long, `${long}=1`, `user=${long}`, `export X=${long}`, `output=${long}`]) {
      writeFileSync(path, `${start}${line}\n`);
      chownSync(path, mallory.uid, mallory.gid);
      const rescan = await host.dmctl('mallory', 'rescan');
      assert.match(rescan.stderr, /long\.conf:3: (error|warning): /, line.slice(-20));
      assert.ok(
        rescan.stderr.length < 2_000,
        `the problem quotes ${rescan.stderr.length} characters of a ${line.length}-character line`,
      );
      await assertManagerAnswers(host, 'alice', 'mallory');
    }
    writeFileSync(path, `${start}${'x\n'.repeat(100_000)}`);
    chownSync(path, mallory.uid, mallory.gid);
    const many = await host.dmctl('mallory', 'rescan');
    // Cut at 100 problems per file, and at 100 kept per user (which may come first).
    assert.match(
      many.stderr,
      /long\.conf: error: more than 100 problems; the rest are not shown|\.\.\. and \d+ more problems in the files of /,
    );
    assert.ok(
      many.stderr.length < 20_000,
      `100,000 bad lines gave ${many.stderr.length} characters`,
    );
    rmSync(path);
    await host.dmctl('mallory', 'rescan');
    assert.deepEqual(processesWith(`sleep ${marker}`), []);
  });
});
