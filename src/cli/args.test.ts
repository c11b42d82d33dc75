import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CliArgs, parseCliArgs } from './args.ts';

const DEFAULTS: CliArgs = {
  command: 'status',
  id: undefined,
  signal: undefined,
  config: undefined,
  json: false,
  personal: false,
  waitMs: undefined,
};

describe('parseCliArgs', () => {
  const cases: { argv: string[]; expected: Partial<CliArgs> }[] = [
    { argv: ['web', 'start', '--wait'], expected: { command: 'start', id: 'web', waitMs: 90_000 } },
    { argv: ['--wait=5s', 'stop', 'web'], expected: { command: 'stop', id: 'web', waitMs: 5_000 } },
    { argv: [], expected: {} },
    { argv: ['status'], expected: {} },
    { argv: ['blog'], expected: { id: 'blog' } },
    { argv: ['david/blog'], expected: { id: 'david/blog' } },
    { argv: ['blog', 'status'], expected: { id: 'blog' } },
    { argv: ['status', 'blog'], expected: { id: 'blog' } },
    { argv: ['list'], expected: { command: 'list' } },
    { argv: ['rescan'], expected: { command: 'rescan' } },
    { argv: ['help'], expected: { command: 'help' } },
    { argv: ['--help'], expected: { command: 'help' } },
    { argv: ['-h'], expected: { command: 'help' } },
    { argv: ['blog', 'stop'], expected: { command: 'stop', id: 'blog' } },
    { argv: ['stop', 'blog'], expected: { command: 'stop', id: 'blog' } },
    { argv: ['david/blog', 'start'], expected: { command: 'start', id: 'david/blog' } },
    { argv: ['start', 'david/blog'], expected: { command: 'start', id: 'david/blog' } },
    { argv: ['blog', 'restart'], expected: { command: 'restart', id: 'blog' } },
    { argv: ['restart', 'blog'], expected: { command: 'restart', id: 'blog' } },
    { argv: ['blog', 'log'], expected: { command: 'log', id: 'blog' } },
    { argv: ['tail', 'blog'], expected: { command: 'tail', id: 'blog' } },
    { argv: ['blog', 'edit'], expected: { command: 'edit', id: 'blog' } },
    // A daemon may be named like a command: the modern order wins when neither word
    // changes something.
    { argv: ['status', 'why'], expected: { command: 'why', id: 'status' } },
    { argv: ['blog', 'kill', '-HUP'], expected: { command: 'kill', id: 'blog', signal: '-HUP' } },
    { argv: ['blog', 'kill', 'HUP'], expected: { command: 'kill', id: 'blog', signal: 'HUP' } },
    { argv: ['kill', 'blog', '-9'], expected: { command: 'kill', id: 'blog', signal: '-9' } },
    {
      argv: ['kill', 'blog', 'SIGTERM'],
      expected: { command: 'kill', id: 'blog', signal: 'SIGTERM' },
    },
    { argv: ['kill', '-KILL', 'blog'], expected: { command: 'kill', id: 'blog', signal: '-KILL' } },
    {
      argv: ['kill', '-9', 'david/blog'],
      expected: { command: 'kill', id: 'david/blog', signal: '-9' },
    },
    { argv: ['--version'], expected: { command: 'version' } },
    { argv: ['-V'], expected: { command: 'version' } },
    { argv: ['blog', 'stop', '-V'], expected: { command: 'version' } },
    { argv: ['version'], expected: { id: 'version' } },
    { argv: ['completion', 'bash'], expected: { command: 'completion', id: 'bash' } },
    { argv: ['completion', 'fish'], expected: { command: 'completion', id: 'fish' } },
    // `--` ends the options, as everywhere.
    {
      argv: ['--json', '--', 'blog', 'stop'],
      expected: { command: 'stop', id: 'blog', json: true },
    },
    { argv: ['--', 'kill', 'blog', '-9'], expected: { command: 'kill', id: 'blog', signal: '-9' } },
    // After it, a word starting with '-' is a word (an id no daemon has), not an option.
    { argv: ['--', '-x', 'status'], expected: { command: 'status', id: '-x' } },
    { argv: ['problems'], expected: { command: 'problems' } },
    { argv: ['problems', 'amy'], expected: { command: 'problems', id: 'amy' } },
    { argv: ['--json'], expected: { json: true } },
    { argv: ['--json', 'blog', 'status'], expected: { id: 'blog', json: true } },
    { argv: ['blog', '--json', 'status'], expected: { id: 'blog', json: true } },
    { argv: ['--personal', 'list'], expected: { command: 'list', personal: true } },
    {
      argv: ['--config', '/etc/dm.conf', 'list'],
      expected: { command: 'list', config: '/etc/dm.conf' },
    },
    { argv: ['-c', '/etc/dm.conf'], expected: { config: '/etc/dm.conf' } },
    {
      argv: ['--config=/etc/dm.conf', 'blog', 'stop'],
      expected: { command: 'stop', id: 'blog', config: '/etc/dm.conf' },
    },
    {
      argv: ['stop', 'blog', '--config', 'x.conf', '--json', '--personal'],
      expected: { command: 'stop', id: 'blog', config: 'x.conf', json: true, personal: true },
    },
  ];
  for (const { argv, expected } of cases) {
    test(`dmctl ${argv.join(' ') || '(no arguments)'} is ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseCliArgs(argv), { ...DEFAULTS, ...expected });
    });
  }

  const errors: { argv: string[]; error: string }[] = [
    { argv: ['stop'], error: "'stop' needs a daemon id, like: dmctl ID stop" },
    {
      argv: ['web', 'kill', '-9', '--wait'],
      error: "--wait goes with start, stop, restart, not 'kill'",
    },
    {
      argv: ['web', 'stop', '--wait=soon'],
      error: "--wait must be a duration like 30s or 2m, not 'soon'",
    },
    {
      argv: ['web', 'stop', '--wait=0'],
      error: '--wait must be longer than 0s, such as 30s or 2m',
    },
    { argv: ['start'], error: "'start' needs a daemon id, like: dmctl ID start" },
    { argv: ['restart'], error: "'restart' needs a daemon id, like: dmctl ID restart" },
    { argv: ['log'], error: "'log' needs a daemon id, like: dmctl ID log" },
    { argv: ['tail'], error: "'tail' needs a daemon id, like: dmctl ID tail" },
    { argv: ['edit'], error: "'edit' needs a daemon id, like: dmctl ID edit" },
    { argv: ['--json', 'stop'], error: "'stop' needs a daemon id, like: dmctl ID stop" },
    { argv: ['kill'], error: "'kill' needs a daemon id, like: dmctl ID kill -HUP" },
    { argv: ['kill', '-9'], error: "'kill' needs a daemon id, like: dmctl ID kill -HUP" },
    { argv: ['-9', 'kill'], error: "'kill' needs a daemon id, like: dmctl ID kill -HUP" },
    { argv: ['blog', 'kill'], error: 'kill needs a signal, like: dmctl ID kill -HUP' },
    { argv: ['kill', 'blog'], error: 'kill needs a signal, like: dmctl ID kill -HUP' },
    { argv: ['blog', 'kill', '-HUP', 'extra'], error: "unexpected argument 'extra'" },
    { argv: ['blog', 'stop', 'now'], error: "unexpected argument 'now'" },
    { argv: ['stop', 'blog', 'now'], error: "unexpected argument 'now'" },
    {
      argv: ['blog', 'frobnicate'],
      error: "unknown command: neither 'blog' nor 'frobnicate' is a command (see dmctl help)",
    },
    { argv: ['completion'], error: "'completion' needs a shell: dmctl completion bash|zsh|fish" },
    {
      argv: ['completion', 'csh'],
      error: "'completion' needs a shell: dmctl completion bash|zsh|fish",
    },
    { argv: ['--frobnicate'], error: "unknown option '--frobnicate'" },
    { argv: ['blog', 'stop', '--force'], error: "unknown option '--force'" },
    { argv: ['-x'], error: "unknown option '-x'" },
    { argv: ['-x', 'status'], error: "unknown option '-x'" },
    { argv: ['blog', 'stop', '-f'], error: "unknown option '-f'" },
    { argv: ['--config'], error: '--config needs a file' },
    { argv: ['list', '-c'], error: '-c needs a file' },
    // An outside review (74a, F3, F4): the last --config won silently; a signal no kill
    // can send was the manager's refusal (exit status 1), not a usage mistake (2).
    {
      argv: ['-c', 'a.conf', 'list', '--config=b.conf'],
      error: "--config is given twice ('a.conf' and the one after)",
    },
    {
      argv: ['web', 'stop', '--wait=0s'],
      error: '--wait must be longer than 0s, such as 30s or 2m',
    },
    ...['-0', '0', '-64', '65', '-SIGRTMIN+3', '-FOO'].map((signal) => ({
      argv: ['web', 'kill', signal],
      error: `unknown signal "${signal}" (try -HUP, -TERM, -KILL or a number from 1 to 31; real-time signals are not sent)`,
    })),
  ];
  for (const { argv, error } of errors) {
    test(`dmctl ${argv.join(' ')} is the error: ${error}`, () => {
      assert.deepEqual(parseCliArgs(argv), { error });
    });
  }
});

// An outside review (72b, F3, 3 of 3): daemons named `status` and `stop`; a manager's
// `dmctl status stop` (the original's order: the status of `stop`) stopped `status`.
test('two command words and a command that changes something: refused, not guessed', () => {
  for (const argv of [
    ['status', 'stop'],
    ['stop', 'start'],
    ['log', 'restart'],
    ['why', 'kill', '-9'],
    // The first word changes something (74a, F6): the usage and exit 0, or "unknown daemon".
    ['start', 'help'],
    ['stop', 'list'],
    ['restart', 'status'],
    ['stop', 'status'],
  ]) {
    const parsed = parseCliArgs(argv);
    assert.ok('error' in parsed, argv.join(' '));
    assert.match(parsed.error, /reads two ways.*USER\/NAME/, argv.join(' '));
  }
  assert.equal((parseCliArgs(['alice/status', 'stop']) as CliArgs).command, 'stop');
});
