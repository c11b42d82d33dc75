import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { type Spawned, showLogIfFailed, spawnCollecting } from '../helpers/cli.ts';
import { ensureTool } from '../helpers/debian.ts';
import { type CommandResult, ROOT_DIR, run, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const VERSION = (
  JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')) as { version: string }
).version;
const MAN_PAGES = [
  'man1/dmctl.1',
  'man8/daemon-manager.8',
  'man5/daemon-manager.conf.5',
  'man5/daemon.conf.5',
];

/** Runs a command and fails the test, with its output, unless it exits 0. */
async function succeed(
  command: readonly string[],
  options: { cwd?: string } = {},
): Promise<string> {
  const result = await run(
    ['sh', '-c', `cd "$1" && shift && exec "$@"`, 'sh', options.cwd ?? ROOT_DIR, ...command],
    [],
  );
  assert.equal(result.code, 0, `${command.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe('npm pack, then npm install -g --prefix: daemon-manager as a package', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const prefix = join(host.dir, 'prefix');
  const installed = join(prefix, 'lib/node_modules/daemon-manager');
  let manager: Spawned | undefined;

  /** A command of the install, run as carol (a user with no special rights). */
  const asCarol = (
    command: readonly string[],
    env: readonly string[] = [],
  ): Promise<CommandResult> => host.runAs('carol', command, env);

  before(async () => {
    ensureTool('man');
    ensureTool('systemd-analyze');
    const packed = await succeed(['npm', 'pack', '--pack-destination', host.dir]);
    const tarball = join(host.dir, packed.trim().split('\n').at(-1) ?? '');
    assert.ok(existsSync(tarball), `npm pack made ${tarball}`);
    await succeed(
      [
        'npm',
        'install',
        '--global',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        tarball,
      ],
      { cwd: host.dir },
    );
  });
  afterEach(showLogIfFailed(() => manager?.output() ?? ''));
  after(async () => {
    await manager?.stop();
    await host.cleanup();
  });

  test('both commands run from the prefix for a user, with the version', async () => {
    for (const [command, name] of [
      ['bin/dmctl', 'dmctl'],
      ['bin/daemon-manager', 'daemon-manager'],
    ] as const) {
      for (const flag of ['--version', '-V']) {
        const result = await asCarol([join(prefix, command), flag]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `${name} ${VERSION}\n`);
      }
    }
  });

  test('the installed manager runs a daemon for carol, with the native parts it built', async () => {
    const carol = host.user('carol');
    host.writeDaemon('carol', 'sleeper', 'start=exec sleep 100000\n');
    manager = spawnCollecting([
      'runuser',
      '-u',
      carol.name,
      '--',
      'env',
      'PATH=/usr/bin:/bin',
      `HOME=${carol.home}`,
      join(prefix, 'bin/daemon-manager'),
      '--personal',
      '-f',
    ]);
    const running = manager;
    await waitFor(
      'the installed manager to run',
      () => (/ running, pid /.test(running.output()) ? true : undefined),
      {
        describe: () => running.output(),
      },
    );
    await waitFor('carol/sleeper to run', async () => {
      const status = await asCarol(
        [join(prefix, 'bin/dmctl'), '--personal', 'status'],
        [`HOME=${carol.home}`],
      );
      return new RegExp(`^${carol.name}/sleeper +running`, 'm').test(status.stdout)
        ? true
        : undefined;
    });
    await manager.stop();
  });

  test('the man pages are installed where man finds them, and render', async () => {
    for (const page of MAN_PAGES) assert.ok(existsSync(join(prefix, 'share/man', page)), page);
    const result = await asCarol(
      ['man', '-M', join(prefix, 'share/man'), '-P', 'cat', 'daemon-manager.conf'],
      ['MANWIDTH=80'],
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /metrics-listen/);
  });

  test('systemd-analyze verify passes on both units, their man pages included', async () => {
    const units = join(installed, 'build/systemd');
    const env = { ...process.env, MANPATH: join(prefix, 'share/man'), XDG_RUNTIME_DIR: host.dir };
    const system = join(units, 'system/daemon-manager.service');
    const user = join(units, 'user/daemon-manager.service');
    assert.match(
      readFileSync(system, 'utf8'),
      new RegExp(`^ExecStart=${installed}/bin/daemon-manager `, 'm'),
    );
    for (const args of [
      ['verify', system],
      ['--user', 'verify', user],
    ]) {
      const result = await run(
        ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'systemd-analyze'],
        args,
      );
      assert.equal(result.stderr, '', `systemd-analyze ${args.join(' ')}`);
      assert.equal(result.code, 0);
    }
    const text = readFileSync(system, 'utf8');
    for (const line of ['Type=notify', 'KillMode=process', 'Restart=on-failure', 'Delegate=yes'])
      assert.match(text, new RegExp(`^${line}$`, 'm'));
    assert.match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  });

  test('the installed dmctl prints its help and its completion scripts', async () => {
    const help = await asCarol([join(prefix, 'bin/dmctl'), '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /dmctl completion SHELL/);
    for (const shell of ['bash', 'zsh', 'fish']) {
      const script = await asCarol([join(prefix, 'bin/dmctl'), 'completion', shell]);
      assert.equal(script.code, 0, script.stderr);
      assert.match(script.stdout, /__complete/);
    }
  });

  // Outside reviews: a group-writable file of the bundle other than dmctl.mjs (the
  // commands import their own) ran as whoever ran dmctl; so could a package whose parent
  // directory another user may write (they rename it away and put theirs in its place).
  test('dmctl refuses a bundle file, or a directory above the package, others may write', async () => {
    const why = join(installed, 'dist/dmctl-why.mjs');
    assert.ok(existsSync(why), 'the bundle has a file of its own for why');
    const refused = async (what: string): Promise<void> => {
      const result = await asCarol([join(prefix, 'bin/dmctl'), '--version']);
      assert.equal(result.code, 126, `${what}: ${result.stdout}`);
      assert.match(result.stderr, /others than their owner \(or root\) could change them/);
    };
    chmodSync(why, 0o664);
    try {
      await refused('a group-writable dist/dmctl-why.mjs');
    } finally {
      chmodSync(why, 0o644);
    }
    const above = join(prefix, 'lib');
    chmodSync(above, 0o777);
    try {
      await refused('a world-writable directory above the package');
      // The sticky bit (as /tmp) keeps others from renaming what is not theirs.
      chmodSync(above, 0o1777);
      const sticky = await asCarol([join(prefix, 'bin/dmctl'), '--version']);
      assert.equal(sticky.code, 0, sticky.stderr);
    } finally {
      chmodSync(above, 0o755);
    }
    const fine = await asCarol([join(prefix, 'bin/dmctl'), '--version']);
    assert.equal(fine.code, 0, fine.stderr);
  });

  // An outside review: root's daemon-manager preloaded a dm-early-signals.so another
  // user could write (and would have loaded their dm_native.node and run their keeper).
  test('daemon-manager refuses native parts, or a directory above the package, others may write', async () => {
    const refused = async (what: string): Promise<void> => {
      const result = await asCarol([join(prefix, 'bin/daemon-manager'), '--version']);
      assert.equal(result.code, 126, `${what}: ${result.stdout}`);
      assert.match(result.stderr, /others than their owner \(or root\) could change them/);
    };
    const release = join(installed, 'build/Release');
    for (const name of ['dm-early-signals.so', 'dm_native.node', 'dm-keeper']) {
      const file = join(release, name);
      const mode = statSync(file).mode & 0o7777;
      chmodSync(file, mode | 0o020);
      try {
        await refused(`a group-writable ${name}`);
      } finally {
        chmodSync(file, mode);
      }
    }
    chmodSync(release, 0o777);
    try {
      await refused('a world-writable build/Release');
    } finally {
      chmodSync(release, 0o755);
    }
    const above = join(prefix, 'lib');
    chmodSync(above, 0o777);
    try {
      await refused('a world-writable directory above the package');
    } finally {
      chmodSync(above, 0o755);
    }
    const fine = await asCarol([join(prefix, 'bin/daemon-manager'), '--version']);
    assert.equal(fine.code, 0, fine.stderr);
  });

  test('a copy of bin/dmctl (not a link) says how to install it instead of failing obscurely', async () => {
    const copy = join(host.dir, 'dmctl-copy');
    copyFileSync(join(prefix, 'bin/dmctl'), copy);
    const result = await asCarol([copy, '--version']);
    assert.equal(result.code, 127);
    assert.match(result.stderr, /a copy of bin\/dmctl cannot \(link it with ln -s instead\)/);
  });

  // A review: a copy took the Node.js from beside the directory it was copied to (any
  // user could plant one there), and a link to the bin/ directory failed with a stack.
  test('a copy never runs a Node.js planted beside it; a link to bin/ works', async () => {
    const planted = join(host.dir, 'planted');
    mkdirSync(join(planted, 'tools'), { recursive: true });
    mkdirSync(join(planted, 'node_modules/node/bin'), { recursive: true });
    mkdirSync(join(planted, 'dist'), { recursive: true });
    writeFileSync(join(planted, 'node_modules/node/bin/node'), '#!/bin/sh\necho planted ran\n', {
      mode: 0o755,
    });
    writeFileSync(join(planted, 'dist/dmctl.mjs'), '');
    copyFileSync(join(prefix, 'bin/dmctl'), join(planted, 'tools/dmctl'));
    chmodSync(join(planted, 'tools/dmctl'), 0o755);
    const copy = await asCarol([join(planted, 'tools/dmctl'), '--version']);
    assert.equal(copy.code, 127, copy.stdout);
    assert.doesNotMatch(copy.stdout, /planted ran/);
    // A later review: a copy in a directory named bin/ of a tree others may write.
    mkdirSync(join(planted, 'bin'));
    copyFileSync(join(prefix, 'bin/dmctl'), join(planted, 'bin/dmctl'));
    chmodSync(join(planted, 'bin/dmctl'), 0o755);
    chmodSync(planted, 0o1777);
    const inBin = await asCarol([join(planted, 'bin/dmctl'), '--version']);
    assert.equal(inBin.code, 126, inBin.stdout);
    assert.match(inBin.stderr, /others than their owner \(or root\) could change them/);
    assert.doesNotMatch(inBin.stdout, /planted ran/);
    const linked = join(host.dir, 'linked-bin');
    symlinkSync(join(prefix, 'bin'), linked);
    const viaLink = await asCarol([join(linked, 'dmctl'), '--version']);
    assert.equal(viaLink.code, 0, viaLink.stderr);
    assert.match(viaLink.stdout, /^dmctl \d/);
  });
});
