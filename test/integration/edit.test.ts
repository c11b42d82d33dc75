import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, dmctlWithEnv, showLogIfFailed } from '../helpers/cli.ts';
import { type CommandResult, DMCTL, TestHost } from '../helpers/host.ts';
import { runOnTerminal } from '../helpers/terminal.ts';

const SLEEPER = 'start=exec sleep 100000\n';

/**
 * `dmctl edit` as visudo does it: a private copy, checked with the manager's parser,
 * saved by the manager as the file's owner; a broken copy is never saved.
 */
describe('dmctl edit checks the edited copy before saving it', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  /**
   * An editor script: each run writes the next of `versions` over the copy it is given
   * (the last one again once they are used up), and notes the path it was given.
   */
  function editor(name: string, versions: readonly string[]): string {
    const home = host.user('alice').home;
    const script = join(host.dir, `${name}.sh`);
    const cases = versions
      .map((text, index) => `  ${index}) cat > "$1" <<'EOF'\n${text}EOF\n  ;;`)
      .join('\n');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `count=$(cat ${home}/${name}.count 2>/dev/null || echo 0)`,
        `echo $((count + 1)) > ${home}/${name}.count`,
        `echo "$1" >> ${home}/${name}.paths`,
        `[ "$count" -ge ${versions.length} ] && count=${versions.length - 1}`,
        'case "$count" in',
        cases,
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    return script;
  }

  const edit = (short: string, script: string, ...args: string[]): Promise<CommandResult> =>
    dmctlWithEnv(host, short, { EDITOR: script, VISUAL: '' }, ...args);
  /** `dmctl web edit` as alice on a terminal, answering the question once it is asked. */
  const editOnTerminal = (script: string, answer: string) =>
    runOnTerminal(
      host,
      'alice',
      { EDITOR: script },
      [DMCTL, '--config', host.configFile, 'web', 'edit'],
      [{ after: /What now\?/, answer }],
    );
  const rowOf = async (id: string) =>
    (await host.status('root')).find((daemon) => daemon.id === host.id(id));

  before(async () => {
    host.user('alice');
    host.user('helpdesk');
    host.writeMaster('[can_run_as]\n{alice}\n[manages]\n{helpdesk}: {alice}\n');
    host.writeDaemon('alice', 'web', SLEEPER);
    host.writeDaemon('alice', 'cracked', `${SLEEPER}output=everywhere\n`);
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/web', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a copy with errors is not saved; without a terminal dmctl says so and exits 1', async () => {
    const file = host.daemonFile('alice', 'web');
    const script = editor('broken', [`${SLEEPER}output=loud\n`]);
    const result = await edit('alice', script, 'web', 'edit');
    assert.equal(result.code, 1, result.stdout);
    assert.match(
      result.stderr,
      new RegExp(`${file}:2: error: 'output' must be 'log' or 'discard'`),
    );
    assert.match(result.stderr, new RegExp(`${file} not saved: .*; ${file} kept as it was`));
    assert.equal(readFileSync(file, 'utf8'), SLEEPER);
    const paths = readFileSync(join(host.user('alice').home, 'broken.paths'), 'utf8');
    assert.doesNotMatch(paths, new RegExp(file), 'the editor never had the config itself');
    assert.match(paths, /\/dmctl-edit-[^/]+\/web\.conf\n$/);
    assert.equal(existsSync(paths.trim()), false, 'the private copy is removed');
  });

  test('on a terminal, a copy with errors can be edited again, then it is saved', async () => {
    const file = host.daemonFile('alice', 'web');
    const script = editor('again', [`${SLEEPER}output=loud\n`, `${SLEEPER}output=log\n`]);
    const result = await editOnTerminal(script, 'e');
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /'output' must be 'log' or 'discard', not 'loud'/);
    assert.match(result.output, new RegExp(`saved ${file}`));
    assert.equal(readFileSync(file, 'utf8'), `${SLEEPER}output=log\n`);
    await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.output === 'log',
      'to run with output=log',
    );
  });

  test('on a terminal, keeping the old file leaves it as it was', async () => {
    const file = host.daemonFile('alice', 'web');
    const before = readFileSync(file, 'utf8');
    const script = editor('keep', [`${SLEEPER}autostart=maybe\n`]);
    const result = await editOnTerminal(script, 'k');
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /'autostart' must be yes or no, not 'maybe'/);
    assert.match(result.output, new RegExp(`${file} kept as it was`));
    assert.equal(readFileSync(file, 'utf8'), before);
  });

  test('a copy the manager refuses (user= not allowed) is not saved either', async () => {
    const file = host.daemonFile('alice', 'web');
    const before = readFileSync(file, 'utf8');
    const script = editor('runas', [`${SLEEPER}user=root\n`]);
    const result = await edit('alice', script, 'web', 'edit');
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, new RegExp(`${file}:2: error: user 'root' is not allowed`));
    assert.equal(readFileSync(file, 'utf8'), before);
  });

  test('edit NEW starts from a commented template and creates the daemon', async () => {
    const file = host.daemonFile('alice', 'fresh');
    const unchanged = await edit('alice', '/bin/true', 'fresh', 'edit');
    assert.equal(unchanged.code, 0, unchanged.stderr);
    assert.match(unchanged.stderr, new RegExp(`no changes: ${host.id('alice/fresh')} not created`));
    assert.equal(existsSync(file), false);
    // The editor uncomments the template's start= line.
    const script = join(host.dir, 'uncomment.sh');
    writeFileSync(script, `#!/bin/sh\nsed -i 's/^#start=.*/${SLEEPER.trim()}/' "$1"\n`, {
      mode: 0o755,
    });
    const result = await edit('alice', script, 'fresh', 'edit');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^saved ${file}$`, 'm'));
    assert.match(result.stdout, new RegExp(`^added: ${host.id('alice/fresh')}$`, 'm'));
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# fresh: a daemon of /);
    assert.match(text, /^#dir=/m, 'the rest of the template stays, commented');
    const stats = statSync(file);
    assert.equal(stats.uid, host.user('alice').uid, "the file is alice's");
    assert.equal((stats.mode & 0o777).toString(8), '644');
    await host.waitForDaemon('alice', 'alice/fresh', (d) => d.state === 'running', 'to run');
  });

  test('a daemon broken at load stays listed, cannot start, and is fixed through edit', async () => {
    const file = host.daemonFile('alice', 'cracked');
    const row = await rowOf('alice/cracked');
    assert.equal(row?.state, 'broken');
    assert.equal(
      row?.problem,
      `${file}:2: error: 'output' must be 'log' or 'discard', not 'everywhere'`,
    );
    const status = await host.dmctl('alice', 'status');
    assert.match(
      status.stdout,
      new RegExp(`^${host.id('alice/cracked')} +broken .* line 2: 'output' must be`, 'm'),
    );
    const start = await host.dmctl('alice', 'cracked', 'start');
    assert.equal(start.code, 1);
    assert.match(start.stderr, new RegExp(`cannot start ${host.id('alice/cracked')}: ${file}:2:`));
    const script = editor('fix', [SLEEPER]);
    const fixed = await edit('alice', script, 'cracked', 'edit');
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, new RegExp(`^added: ${host.id('alice/cracked')}$`, 'm'));
    await host.waitForDaemon('alice', 'alice/cracked', (d) => d.state === 'running', 'to run');
  });

  test('root edits a copy too, and the file is written back as its owner', async () => {
    const file = host.daemonFile('alice', 'web');
    chmodSync(file, 0o640);
    const script = join(host.dir, 'root-editor.sh');
    writeFileSync(script, '#!/bin/sh\necho "export BY_ROOT=1" >> "$1"\n', { mode: 0o755 });
    const result = await dmctlAsRoot({ EDITOR: script }, host.id('alice/web'), 'edit');
    assert.equal(result.code, 0, result.stderr);
    assert.match(readFileSync(file, 'utf8'), /export BY_ROOT=1\n$/);
    const stats = statSync(file);
    assert.equal(stats.uid, host.user('alice').uid);
    assert.equal(stats.gid, host.user('alice').gid);
    assert.equal((stats.mode & 0o777).toString(8), '640', 'the mode is kept');
  });

  test('a help-desk user of [manages] is told they may not edit, before any editor runs', async () => {
    const marker = join(host.user('helpdesk').home, 'editor-ran');
    const script = join(host.dir, 'helpdesk-editor.sh');
    writeFileSync(script, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const before = readFileSync(host.daemonFile('alice', 'web'), 'utf8');
    const result = await edit('helpdesk', script, host.id('alice/web'), 'edit');
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`not allowed: only ${host.user('alice').name} and root may change`),
    );
    assert.equal(existsSync(marker), false, 'the editor never ran');
    assert.equal(readFileSync(host.daemonFile('alice', 'web'), 'utf8'), before);
  });

  function dmctlAsRoot(env: Record<string, string>, ...args: string[]): Promise<CommandResult> {
    return dmctlWithEnv(host, 'root', env, ...args);
  }
});
