import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { ensureTool } from '../helpers/debian.ts';
import { type CommandResult, DMCTL, ROOT_DIR, TestHost } from '../helpers/host.ts';

describe('dmctl completion and status on a terminal', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const asAlice = (
    command: readonly string[],
    env: readonly string[] = [],
  ): Promise<CommandResult> =>
    host.runAs('alice', command, [`PATH=${ROOT_DIR}/bin:/usr/bin:/bin`, ...env]);

  before(async () => {
    ensureTool('zsh');
    ensureTool('fish');
    ensureTool('script');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n[manages]\n{alice}: {bob}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    host.writeDaemon('alice', 'queue', 'start=exec sleep 100000\n');
    host.writeDaemon('bob', 'web', 'start=exec sleep 100000\nautostart=no\n');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  /** What bash's completion function offers for the words typed so far (the last one at the cursor). */
  async function bash(...words: string[]): Promise<string[]> {
    const typed = ['dmctl', '--config', host.configFile, ...words].map((word) => `'${word}'`);
    const script = [
      'source <(dmctl completion bash)',
      `COMP_WORDS=(${typed.join(' ')})`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
      'COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
      '_dmctl',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const result = await asAlice(['bash', '-c', script]);
    assert.equal(result.stderr, '', 'completion says nothing on stderr');
    return result.stdout.split('\n').filter((line) => line !== '');
  }

  test('bash: commands and the ids alice may manage, hers by their short name', async () => {
    const offered = await bash('');
    for (const verb of ['status', 'start', 'stop', 'kill', 'completion'])
      assert.ok(offered.includes(verb), verb);
    assert.ok(offered.includes('queue'), 'her own unique name, short');
    assert.ok(offered.includes(host.id('alice/web')), 'web is ambiguous: full id');
    assert.ok(offered.includes(host.id('bob/web')), "bob's daemon, which she manages");
    assert.deepEqual(await bash('q'), ['queue']);
  });

  test('bash: after an id, the commands that take one; after a command, the ids', async () => {
    assert.deepEqual(await bash('queue', 're'), ['restart']);
    assert.deepEqual(await bash('stop', 'q'), ['queue']);
    assert.deepEqual(await bash('completion', 'z'), ['zsh']);
  });

  test('bash: signals after kill, in either order', async () => {
    assert.ok((await bash('queue', 'kill', '-')).includes('-HUP'));
    assert.deepEqual(await bash('queue', 'kill', '-TE'), ['-TERM']);
    assert.deepEqual(await bash('kill', '-TE'), ['-TERM']);
    assert.deepEqual(await bash('kill', '-HUP', 'q'), ['queue']);
  });

  test('bash: options', async () => {
    assert.deepEqual(await bash('--js'), ['--json']);
  });

  test('bash: no manager answering means no ids, silently', async () => {
    const offered = await bash('--personal', '');
    assert.ok(offered.includes('status'));
    assert.ok(!offered.includes('queue'));
  });

  test('fish: the same candidates through its own completion machinery', async () => {
    const result = await asAlice([
      'fish',
      '-c',
      `dmctl completion fish | source; complete -C'dmctl --config ${host.configFile} q'; complete -C'dmctl --config ${host.configFile} queue kill -TE'`,
    ]);
    assert.equal(result.stderr, '');
    const words = result.stdout.split('\n').map((line) => line.split('\t')[0]);
    assert.ok(words.includes('queue'), result.stdout);
    assert.ok(words.includes('-TERM'), result.stdout);
  });

  test('zsh: the function offers the candidates to compadd', async () => {
    // compadd exists only inside a completion widget; here it prints what it was given.
    const script = [
      'autoload -Uz compinit && compinit -D',
      'source <(dmctl completion zsh)',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh, not a template
      'compadd() { print -rl -- ${(P)2} }',
      `words=(dmctl --config ${host.configFile} queue re)`,
      'CURRENT=5',
      '_dmctl',
    ].join('\n');
    const result = await asAlice(['zsh', '-c', script]);
    assert.equal(result.stderr, '');
    assert.deepEqual(result.stdout.split('\n').filter(Boolean), ['restart']);
  });

  /** `dmctl status` on a pseudo-terminal of `columns` columns (script(1) gives it one). */
  async function statusOnTerminal(columns: number, env: readonly string[] = []): Promise<string> {
    const result = await asAlice(
      [
        'script',
        '-qec',
        `stty cols ${columns}; ${DMCTL} --config ${host.configFile} status`,
        '/dev/null',
      ],
      ['TERM=xterm', ...env],
    );
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.replaceAll('\r', '');
  }

  test('status on a terminal fits its width and colours the states', async () => {
    for (const columns of [120, 60, 40]) {
      const text = await statusOnTerminal(columns);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the colours is the point
      const plain = text.replace(/\u001b\[\d+m/g, '');
      for (const line of plain.trimEnd().split('\n'))
        assert.ok(line.length <= columns, `${line.length} > ${columns}: ${line}`);
      assert.ok(text.includes('\u001b[32mrunning'), text);
      assert.match(plain, new RegExp(`^${host.id('alice/queue')} +running`, 'm'));
    }
  });

  test('NO_COLOR turns the colours off; into a pipe there are none either', async () => {
    assert.ok(!(await statusOnTerminal(120, ['NO_COLOR=1'])).includes('\u001b['));
    const piped = await host.dmctl('alice', 'status');
    assert.ok(!piped.stdout.includes('\u001b['));
  });
});
