import assert from 'node:assert/strict';
import {
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, dmctlWithEnv, showLogIfFailed } from '../helpers/cli.ts';
import { type CommandResult, TestHost } from '../helpers/host.ts';
import { watchPaths } from './support.ts';

const CONFIG = 'start=exec sleep 8000001\n';

/**
 * `dmctl ID edit` run by root on alice's config never makes root's editor, or root, write
 * where alice points: the editor gets a private copy, and the copy is written back as
 * alice, so the kernel refuses whatever alice could not write herself.
 */
describe("root's edit of alice's config cannot be turned against root", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const rootFile = (): string => join(host.dir, 'root-owned.txt');
  const rootDir = (): string => join(host.dir, 'root-dir');
  const daemons = (): string => join(host.user('alice').home, '.daemon-manager/daemons');

  /**
   * `dmctl alice/web edit` as root, with an editor that appends a line after doing
   * `meanwhile` (what alice would do while root's editor is open).
   */
  function editAsRoot(name: string, meanwhile: string): Promise<CommandResult> {
    const script = join(host.dir, `${name}.sh`);
    writeFileSync(script, `#!/bin/sh\n${meanwhile}\necho "export EDITED=1" >> "$1"\n`, {
      mode: 0o755,
    });
    return dmctlWithEnv(host, 'root', { EDITOR: script }, host.id('alice/web'), 'edit');
  }

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', CONFIG);
    writeFileSync(rootFile(), 'root only\n', { mode: 0o644 });
    mkdirSync(rootDir(), { mode: 0o755 });
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  /** Puts alice's web.conf back as a file (never writing through a link left there). */
  function restoreConfig(): void {
    rmSync(host.daemonFile('alice', 'web'), { force: true });
    host.writeDaemon('alice', 'web', CONFIG);
  }

  /** Makes alice's web.conf a symlink (owned by alice) to `target`. */
  function plantLink(target: string): void {
    const file = host.daemonFile('alice', 'web');
    rmSync(file, { force: true });
    symlinkSync(target, file);
    lchownSync(file, host.user('alice').uid, host.user('alice').gid);
  }

  test('a config already swapped for a link to a root-owned file is refused before any editor runs', async () => {
    const watched = watchPaths([rootFile()]);
    plantLink(rootFile());
    try {
      const marker = join(host.dir, 'editor-ran');
      const result = await editAsRoot('never', `touch ${marker}`);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /cannot edit \S+web\.conf: it is a symbolic link/);
      assert.equal(existsSync(marker), false, 'the editor never ran');
      watched.unchanged();
    } finally {
      restoreConfig();
    }
  });

  test('a config swapped for a link while root edits is not written through', async () => {
    const watched = watchPaths([rootFile()]);
    const file = host.daemonFile('alice', 'web');
    // What alice does while root's editor is open: the script runs as root, standing in.
    const swap = `rm -f ${file} && ln -s ${rootFile()} ${file} && chown -h ${host.user('alice').name} ${file}`;
    try {
      const result = await editAsRoot('swap', swap);
      assert.equal(result.code, 1, result.stdout);
      assert.match(
        result.stderr,
        /web\.conf is a symbolic link; config files must be regular files now; not replaced/,
      );
      const kept = /your edited copy is kept in (\S+)/.exec(result.stderr)?.[1];
      assert.ok(kept !== undefined && existsSync(kept), result.stderr);
      rmSync(join(kept, '..'), { recursive: true });
      watched.unchanged();
    } finally {
      restoreConfig();
    }
  });

  test('a daemon directory swapped for a link to a root-owned one is not written into', async () => {
    const watched = watchPaths([rootDir(), rootFile()]);
    const moved = `${daemons()}.moved`;
    // alice moves her daemons/ away and leaves a link to a directory of root's.
    const swap = `mv ${daemons()} ${moved} && ln -s ${rootDir()} ${daemons()} && chown -h ${host.user('alice').name} ${daemons()}`;
    try {
      const result = await editAsRoot('dirswap', swap);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, /not replaced/);
      const kept = /your edited copy is kept in (\S+)/.exec(result.stderr)?.[1];
      if (kept !== undefined) rmSync(join(kept, '..'), { recursive: true });
      watched.unchanged();
      assert.equal(readFileSync(join(moved, 'web.conf'), 'utf8'), CONFIG, 'her file is as it was');
    } finally {
      if (lstatSync(daemons()).isSymbolicLink()) {
        rmSync(daemons());
        renameSync(moved, daemons());
      }
    }
  });
});
