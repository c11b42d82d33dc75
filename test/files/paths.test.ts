import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, linkSync, openSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { judgeConfigFile } from '../../src/files/config-dir.ts';
import { closeFd } from '../../src/files/user-files.ts';
import { refusalOf } from '../../src/logs/log-file.ts';
import { type Spawned, spawnCollecting } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { filesOf, mkdirOwned, writeOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

const MAGIC = /refused: the path goes through a \/proc magic link/;
const LIMITS = { maxFiles: 10, maxFileBytes: 1024, maxTotalBytes: 10_000 };

describe('paths in a user tree cannot lead the manager astray', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const alice = () => host.user('alice');
  const daemons = (): string => join(alice().home, '.daemon-manager/daemons');
  let namespace: Spawned | undefined;

  before(() => {
    mkdirOwned(daemons(), alice());
    mkdirOwned(join(alice().home, 'ns'), alice());
  });
  after(async () => {
    await namespace?.stop();
    await host.cleanup();
  });

  test("a path through /proc/PID/root of the user's own mount namespace is refused", async () => {
    // As in the security review: alice mounts what she likes in a namespace of her own
    // and points her daemon directory into it through /proc/PID/root.
    const ns = join(alice().home, 'ns');
    namespace = spawnCollecting([
      'runuser',
      '-u',
      alice().name,
      '--',
      'unshare',
      '-Urm',
      'sh',
      '-c',
      `mount -t tmpfs none ${ns} && mkdir ${ns}/d && echo start=x > ${ns}/d/a.conf && echo "ready $$" && exec sleep 100000`,
    ]);
    const pid = await waitFor(
      'the namespace to be ready',
      () => /ready (\d+)/.exec(namespace?.output() ?? '')?.[1],
      {
        describe: () => namespace?.output() ?? '',
      },
    );
    const inside = `/proc/${pid}/root${ns}/d`;
    // The path is real: a plain read as root would see alice's mount.
    assert.deepEqual(readdirSync(inside), ['a.conf']);
    const direct = await filesOf(alice()).readConfigDir(inside, LIMITS);
    assert.equal(direct.ok ? 'read' : direct.error.code, 'ELOOP');
    if (!direct.ok) assert.match(direct.error.message, MAGIC);
    // Through a symlink in her tree: the same refusal.
    const linked = join(alice().home, '.daemon-manager/linked');
    symlinkSync(inside, linked);
    const viaLink = await filesOf(alice()).readConfigDir(linked, LIMITS);
    assert.match(viaLink.ok ? 'read' : viaLink.error.message, MAGIC);
    const log = await filesOf(alice()).openAppend(`${inside}/x.log`, 0o640);
    assert.match(log.ok ? 'opened' : log.error.message, MAGIC);
    const socket = await filesOf(alice()).bindUnix(`${inside}/s.sock`, 5, 0o600);
    assert.match(socket.ok ? 'bound' : socket.error.message, MAGIC);
  });

  test("/proc/self/fd/N (the manager's own descriptors) is refused, as a user and as root", async () => {
    const rootOnly = join(host.dir, 'root-only');
    mkdirOwned(rootOnly, { ...alice(), uid: 0, gid: 0 }, 0o700);
    writeOwned(join(rootOnly, 'secret'), 'root only\n', undefined, 0o600);
    const fd = openSync(rootOnly, 'r');
    try {
      for (const user of [alice(), { ...alice(), name: 'root', uid: 0, gid: 0 }]) {
        const read = await filesOf(user).readChunk(`/proc/self/fd/${fd}/secret`, 0, 100);
        assert.equal(read.ok ? 'read' : read.error.code, 'ELOOP', `as ${user.name}`);
        if (!read.ok) assert.match(read.error.message, MAGIC);
      }
    } finally {
      closeSync(fd);
    }
  });

  test('a final symlink is never followed; hard links are seen on the descriptor', async () => {
    const files = filesOf(alice());
    const logs = join(alice().home, 'logs');
    mkdirOwned(logs, alice());
    writeOwned(join(logs, 'real.log'), 'real\n', alice());
    symlinkSync(join(logs, 'real.log'), join(logs, 'link.log'));
    for (const attempt of [
      files.openAppend(join(logs, 'link.log'), 0o640),
      files.readChunk(join(logs, 'link.log'), 0, 10),
    ]) {
      const result = await attempt;
      assert.equal(result.ok, false);
      if (!result.ok)
        assert.equal(
          result.error.message,
          `${join(logs, 'link.log')}: is a symbolic link; refused`,
        );
    }
    linkSync(join(logs, 'real.log'), join(logs, 'hard.log'));
    const hard = await files.openAppend(join(logs, 'hard.log'), 0o640);
    assert.ok(hard.ok);
    if (hard.ok) {
      closeFd(hard.value.fd);
      assert.equal(refusalOf(hard.value.stat, alice().uid), 'has 2 hard links');
    }
    writeOwned(join(daemons(), 'real.conf'), 'start=x\n', alice());
    symlinkSync(join(daemons(), 'real.conf'), join(daemons(), 'sym.conf'));
    writeOwned(join(alice().home, 'outside'), 'start=x\n', alice());
    linkSync(join(alice().home, 'outside'), join(daemons(), 'hard.conf'));
    const dir = await files.readConfigDir(daemons(), LIMITS);
    assert.ok(dir.ok);
    if (!dir.ok) return;
    const rules = {
      ownerUid: alice().uid,
      ownerName: alice().name,
      privateGid: alice().gid,
      maxBytes: 1024,
      refuseExecutable: true,
    };
    const verdicts = Object.fromEntries(
      dir.value.files.map((file) => [file.name, judgeConfigFile(file, rules)]),
    );
    assert.deepEqual(verdicts, {
      'hard.conf': { ok: false, reason: 'has 2 hard links; a config file must have exactly one' },
      'real.conf': { ok: true, text: 'start=x\n', mode: 0o644 },
      'sym.conf': { ok: false, reason: 'is a symbolic link; config files must be regular files' },
    });
  });

  test('a FIFO in place of a config or a log never blocks', async () => {
    const files = filesOf(alice());
    const fifoDir = join(alice().home, 'fifos');
    mkdirOwned(fifoDir, alice());
    for (const name of ['x.conf', 'x.log']) {
      execFileSync('mkfifo', [join(fifoDir, name)]);
      execFileSync('chown', [`${alice().uid}:${alice().gid}`, join(fifoDir, name)]);
    }
    const dir = await files.readConfigDir(fifoDir, LIMITS);
    assert.ok(dir.ok);
    if (dir.ok) {
      const [fifo] = dir.value.files;
      assert.equal(fifo?.data, undefined);
      assert.deepEqual(
        fifo &&
          judgeConfigFile(fifo, {
            ownerUid: alice().uid,
            ownerName: 'alice',
            privateGid: undefined,
            maxBytes: 1024,
            refuseExecutable: true,
          }),
        { ok: false, reason: 'is not a regular file' },
      );
    }
    // No reader: a nonblocking open for writing fails at once (ENXIO) instead of waiting.
    const log = await files.openAppend(join(fifoDir, 'x.log'), 0o640);
    assert.equal(log.ok ? 'opened' : log.error.code, 'ENXIO');
    const chunk = await files.readChunk(join(fifoDir, 'x.log'), 0, 100);
    assert.ok(chunk.ok);
    if (chunk.ok) {
      assert.equal(chunk.value.data.length, 0);
      assert.equal(refusalOf(chunk.value.stat, alice().uid), 'is not a regular file');
    }
  });
});
