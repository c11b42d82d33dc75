import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { type CommandResult, ROOT_DIR, run, TestHost } from '../helpers/host.ts';

// bin/dmctl runs build/Release/dmctl-status (native/dmctl/status.c) as `dmctl-status NODE
// BUNDLE ARGS...`: it answers the plain forms of `dmctl status` itself, and execs NODE
// for everything else. Here NODE is echo(1): a command left to dmctl prints the line
// dmctl would have been run with, and an answered one prints the manager's table.
const QUICK = join(ROOT_DIR, 'build/Release/dmctl-status');
const NODE = join(ROOT_DIR, 'node_modules/node/bin/node');
const BUNDLE = join(ROOT_DIR, 'dist/dmctl.mjs');
const ECHO = '/bin/echo';

describe('dmctl status without Node.js: the same table, or left to dmctl', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const as = (short: string): string[] =>
    short === 'root' ? [] : ['runuser', '-u', host.user(short).name, '--'];
  /** The quick path with echo for Node.js, as `short`. */
  const quick = (short: string, ...args: string[]): Promise<CommandResult> =>
    run([...as(short), QUICK, ECHO, BUNDLE], args);
  /** dmctl itself (Node.js), as `short`. */
  const dmctl = (short: string, ...args: string[]): Promise<CommandResult> =>
    run([...as(short), NODE, BUNDLE], args);
  const declined = (args: readonly string[]): string =>
    `--disable-sigusr1 ${BUNDLE} ${args.join(' ')}\n`;
  /** A master config of root's (the test runs as root) in the sandbox; its path. */
  const masterConfig = (name: string, text: string, mode = 0o644): string => {
    const file = join(host.dir, name);
    writeFileSync(file, text);
    chmodSync(file, mode);
    return file;
  };

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n\n[manages]\n{bob}: {alice}\n');
    host.user('bob');
    // States that do not change between two calls: no uptime ticking in a column.
    host.writeDaemon('alice', 'idle', 'start=exec sleep 100000\nautostart=no\n');
    host.writeDaemon('alice', 'done', 'start=exit 3\nrestart=no\n');
    host.writeDaemon('alice', 'broken', 'start=exec sleep 100000\nautostart=maybe\n');
    // Named like a command: `dmctl stop status` reads two ways (see below).
    host.writeDaemon('alice', 'stop', 'start=exec sleep 100000\nautostart=no\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/done', (d) => d.state === 'failed', 'done to fail');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  for (const short of ['root', 'alice', 'bob'])
    test(`as ${short}: the plain forms print what dmctl prints, without running it`, async () => {
      for (const form of [[], ['status'], [host.id('alice/done'), 'status']]) {
        const args = ['--config', host.configFile, ...form];
        const [answered, itself] = [await quick(short, ...args), await dmctl(short, ...args)];
        assert.equal(answered.code, 0, `${form.join(' ')}: ${answered.stderr}`);
        assert.notEqual(answered.stdout, declined(args), `${form.join(' ')} was left to dmctl`);
        assert.equal(answered.stdout, itself.stdout, form.join(' '));
        assert.equal(answered.stderr, itself.stderr, form.join(' '));
        assert.match(answered.stdout, /^daemon-id /);
      }
    });

  test("the config problems go to stderr as dmctl's do: alice's in full, bob told of them", async () => {
    const own = await quick('alice', '--config', host.configFile, 'status');
    assert.match(own.stderr, /broken\.conf:2: error: .*autostart/);
    const managed = await quick('bob', '--config', host.configFile);
    assert.match(managed.stderr, /1 config problem in the files of 1 other user you manage/);
  });

  const onTerminal = async (command: readonly string[], columns = 52): Promise<string> => {
    const line = command.map((word) => `'${word}'`).join(' ');
    const result = await run(['script', '-qec', `stty cols ${columns}; ${line}`, '/dev/null'], []);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };

  test('on a terminal wider than the widest table: the widest table, by both', async () => {
    const args = ['--config', host.configFile, 'status'];
    const answered = await onTerminal([QUICK, ECHO, BUNDLE, ...args], 12_000);
    assert.notEqual(answered.replaceAll('\r', ''), declined(args), 'left to dmctl');
    assert.equal(answered, await onTerminal([NODE, BUNDLE, ...args], 12_000));
  });

  test('a reader gone before the table: status 1 and no stack trace, from both', async () => {
    // The pipe's reading end is closed before dmctl starts: its first write fails (EPIPE).
    const closedPipe = [
      'python3',
      '-c',
      'import os, subprocess, sys\nr, w = os.pipe()\nos.close(r)\nsys.exit(subprocess.run(sys.argv[1:], stdout=w).returncode)',
    ];
    const args = ['--config', host.configFile, 'status'];
    for (const command of [
      [QUICK, NODE, BUNDLE],
      [NODE, BUNDLE],
    ]) {
      const result = await run([...closedPipe, ...command], args);
      assert.equal(result.code, 1, `${command[0]}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /EPIPE|Error|at /, command[0]);
    }
  });

  test('on a terminal: the same width, cuts and colours as dmctl', async () => {
    const args = ['--config', host.configFile, 'status'];
    const answered = await onTerminal([QUICK, ECHO, BUNDLE, ...args]);
    assert.equal(answered, await onTerminal([NODE, BUNDLE, ...args]));
    const esc = String.fromCharCode(0x1b);
    assert.ok(answered.includes(`${esc}[31mfailed`), 'no colour on a terminal');
    const plain = answered.replaceAll('\r', '').replace(new RegExp(`${esc}\\[\\d+m`, 'g'), '');
    assert.ok(
      plain
        .split('\n')
        .filter((line) => line.startsWith('daemon-id') || line.startsWith(host.prefix))
        .every((line) => line.length <= 52),
      `wider than the terminal:\n${plain}`,
    );
  });

  test('what it does not know is left to dmctl, with the same arguments', async () => {
    const config = ['--config', host.configFile];
    for (const args of [
      [...config, '--json', 'status'],
      [...config, 'list'],
      [...config, 'status', host.id('alice/done')], // needs the list of commands: dmctl's
      [...config, host.id('alice/done')],
      [...config, 'no-such-daemon', 'status'], // refused by the manager
      [...config, '--', 'status'],
      [...config, 'status', '--wait'],
      [...config, 'why', 'status'],
      // Refused by dmctl, which the quick client answered as the status of `stop` (an
      // outside review, 75a, F1); and --config twice, which it took the last of.
      [...config, 'stop', 'status'],
      [...config, ...config, 'status'],
      [...config, 'caf\u00e9', 'status'],
      ['--config'],
      ['--config', join(host.dir, 'missing.conf'), 'status'],
    ]) {
      const result = await quick('alice', ...args);
      assert.equal(result.stdout, declined(args), args.join(' '));
    }
  });

  test('it reads socket-dir as the master config parser does, and leaves any doubt to dmctl', async () => {
    const dir = join(host.dir, 'run');
    const variants: [string, string, boolean][] = [
      ['trailing slashes and a comment', `[settings]\nsocket-dir = ${dir}//   # here\n`, true],
      ['spaces inside the header', `  [ settings ]  \n\tsocket-dir=${dir}\n`, true],
      [
        'set twice: the last counts',
        `[settings]\nsocket-dir = /nowhere\nsocket-dir = ${dir}\n`,
        true,
      ],
      [
        'in another section',
        `[settings]\nsocket-dir = ${dir}\n[manages]\nsocket-dir = /nowhere\n`,
        true,
      ],
      [
        'after an unknown section',
        `[settings]\nsocket-dir = ${dir}\n[other]\nsocket-dir = /nowhere\n`,
        true,
      ],
      ['commented out', `[settings]\nsocket-dir = /nowhere\n#socket-dir = ${dir}\n`, false],
      [
        'relative: refused by the parser',
        `[settings]\nsocket-dir = ${dir}\nsocket-dir = run\n`,
        false,
      ],
      ['not ASCII', `# caf\u00e9\n[settings]\nsocket-dir = ${dir}\n`, false],
      // An outside review: read one way here and another by dmctl's parser.
      ['a CR in the header', `[settings\r]\nsocket-dir = ${dir}\n`, false],
      ['a form feed', `[settings]\n\fsocket-dir = ${dir}\n`, false],
      ['a .. in socket-dir', `[settings]\nsocket-dir = ${dir}/../run\n`, false],
      ['a . in socket-dir', `[settings]\nsocket-dir = ${dir}/.\n`, false],
    ];
    for (const [what, text, answers] of variants) {
      const args = ['--config', masterConfig('variant.conf', text), 'status'];
      const result = await quick('alice', ...args);
      assert.equal(result.stdout === declined(args), !answers, `${what}: ${result.stdout}`);
    }
  });

  test('a master config others could change is left to dmctl (which refuses it)', async () => {
    const text = `[settings]\nsocket-dir = ${join(host.dir, 'run')}\n`;
    const args = ['--config', masterConfig('loose.conf', text, 0o664), 'status'];
    assert.equal((await quick('alice', ...args)).stdout, declined(args));
  });

  // An outside review: with a socket-dir another user could write in (or below a
  // directory they could), both clients asked their server and printed what it said.
  test('a socket-dir others could write in is refused by dmctl, left to it by the quick client', async () => {
    const open = join(host.dir, 'open');
    mkdirSync(join(open, 'run'), { recursive: true });
    chmodSync(open, 0o777);
    const text = `[settings]\nsocket-dir = ${join(open, 'run')}\n`;
    const args = ['--config', masterConfig('open.conf', text), 'status'];
    assert.equal((await quick('alice', ...args)).stdout, declined(args));
    const refused = await dmctl('alice', ...args);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /not asking in .*open\/run.* may be written by others than its owner \(mode 777\)/,
    );
    chmodSync(open, 0o1777);
    const sticky = await dmctl('alice', ...args);
    assert.doesNotMatch(sticky.stderr, /not asking in/, 'a sticky directory above it is fine');
    chmodSync(join(open, 'run'), 0o777);
    assert.match((await dmctl('alice', ...args)).stderr, /not asking in/);
  });

  test('no manager answering is left to dmctl, to say why', async () => {
    const text = `[settings]\nsocket-dir = ${join(host.dir, 'nothing-here')}\n`;
    const args = ['--config', masterConfig('elsewhere.conf', text), 'status'];
    assert.equal((await quick('alice', ...args)).stdout, declined(args));
  });

  test('bin/dmctl answers status without starting Node.js', async () => {
    const trace = join(host.dir, 'execve.trace');
    const traced = await run(
      ['strace', '-f', '-e', 'trace=execve', '-o', trace, join(ROOT_DIR, 'bin/dmctl')],
      ['--config', host.configFile, 'status'],
    );
    assert.equal(traced.code, 0, traced.stderr);
    assert.match(traced.stdout, /^daemon-id /);
    const execs = readFileSync(trace, 'utf8');
    assert.match(execs, /execve\("[^"]*\/dmctl-status"/);
    assert.doesNotMatch(execs, /execve\("[^"]*\/node"/);
  });
});
