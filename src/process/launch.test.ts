import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NO_LIMITS } from '../config/limits.ts';
import { directWords, type LaunchPlan, spawnFields } from './launch.ts';

const PLAN: LaunchPlan = {
  start: 'exec sleep 1000',
  dir: '/srv/web',
  uid: 1000,
  gid: 1000,
  groups: [1000, 27, 33],
  env: { HOME: '/home/web', PATH: '/home/web/bin:/usr/bin' },
  output: 'ignore',
  banner: undefined,
  limits: NO_LIMITS,
  cgroup: undefined,
  joins: [],
  umask: 0o022,
};

describe('directWords', () => {
  const cases: [string, string[] | undefined][] = [
    ['sleep 1000', ['sleep', '1000']],
    ['exec php-cgi -b 127.0.0.1:9000', ['php-cgi', '-b', '127.0.0.1:9000']],
    ['  /usr/bin/bot --name=x   -v ', ['/usr/bin/bot', '--name=x', '-v']],
    [
      './script/server -l greenfelt.socket -n 1',
      ['./script/server', '-l', 'greenfelt.socket', '-n', '1'],
    ],
    ['php-cgi -b $HOME/sock', undefined],
    ['cd app && exec ./run', undefined],
    ['run > out.log', undefined],
    ['echo "quoted"', undefined],
    ['ls *.txt', undefined],
    ['run ~/x', undefined],
    ['PORT=8080 ./server', undefined],
    ['exec', undefined],
    ['a; b', undefined],
  ];
  for (const [line, words] of cases)
    test(`${JSON.stringify(line)} -> ${JSON.stringify(words)}`, () => {
      assert.deepEqual(directWords(line), words);
    });
});

describe('spawnFields', () => {
  const value = (fields: string[], key: string): string[] =>
    fields
      .filter((field) => field.startsWith(`${key}=`))
      .map((field) => field.slice(key.length + 1));

  test('as root, names the user, gid and supplementary groups to switch to', () => {
    const fields = spawnFields(7, 'web/app', PLAN, true);
    assert.deepEqual(fields.slice(0, 2), ['7', 'web/app']);
    assert.deepEqual(value(fields, 'uid'), ['1000']);
    assert.deepEqual(value(fields, 'gid'), ['1000']);
    assert.deepEqual(value(fields, 'groups'), ['1000,27,33']);
  });

  test('names the owner for the keeper to keep with the run, when the plan has one', () => {
    assert.deepEqual(value(spawnFields(1, 'u/x', { ...PLAN, owner: 1001 }, true), 'owner'), [
      '1001',
    ]);
    // Left out for a keeper before version 3, which refuses a field it does not know.
    assert.deepEqual(value(spawnFields(1, 'u/x', PLAN, true), 'owner'), []);
  });

  test('a daemon that runs as root keeps root: the admin granted exactly that', () => {
    assert.deepEqual(value(spawnFields(1, 'r/x', { ...PLAN, uid: 0, gid: 0 }, true), 'uid'), []);
  });

  test('held sockets are passed by their store names: fds 3 onwards, or standard input', () => {
    const names = ['lsn:u/x - tcp:127.0.0.1:9000', 'lsn:u/x 1:2 unix:/s 660 -'];
    const fds = spawnFields(1, 'u/x', { ...PLAN, sockets: { names, passing: 'systemd' } }, true);
    assert.deepEqual(value(fds, 'listen'), names);
    assert.deepEqual(value(fds, 'stdin'), []);
    const one = names.slice(0, 1);
    const stdin = spawnFields(
      1,
      'u/x',
      { ...PLAN, sockets: { names: one, passing: 'stdin' } },
      true,
    );
    assert.deepEqual(value(stdin, 'stdin'), one);
    assert.deepEqual(value(stdin, 'listen'), []);
  });

  test('without root there is nobody to switch to', () => {
    assert.deepEqual(value(spawnFields(1, 'u/x', PLAN, false), 'uid'), []);
  });

  test('only the limits set are passed, as name=value', () => {
    const plan = { ...PLAN, limits: { nofile: 64, nproc: 10, core: 0, as: undefined } };
    assert.deepEqual(value(spawnFields(1, 'u/x', plan, true), 'limits'), [
      'nofile=64,nproc=10,core=0',
    ]);
  });

  test('a plain start line is also sent as words to run without a shell', () => {
    const fields = spawnFields(1, 'u/x', PLAN, true);
    assert.deepEqual(value(fields, 'start'), ['exec sleep 1000']);
    assert.deepEqual(value(fields, 'arg'), ['sleep', '1000']);
  });

  test('the environment is passed whole, values byte for byte; unusable entries are dropped', () => {
    const env = { A: 'x y', B: '"quoted" $HOME \\n', C: '', 'D E': '1', F: 'two\nlines' };
    assert.deepEqual(value(spawnFields(1, 'u/x', { ...PLAN, env }, true), 'env'), [
      'A=x y',
      'B="quoted" $HOME \\n',
      'C=',
    ]);
  });

  test('output, banner, umask, cgroups', () => {
    const fields = spawnFields(
      1,
      'u/x',
      {
        ...PLAN,
        output: 'pipe',
        banner: '--- start\nof something',
        cgroup: '/sys/fs/cgroup/unified/dm/u/x',
        joins: ['/sys/fs/cgroup/pids/dm/u/x/cgroup.procs'],
        umask: 0o027,
      },
      true,
    );
    assert.deepEqual(value(fields, 'stdout'), ['pipe']);
    assert.deepEqual(value(fields, 'banner'), ['--- start of something']);
    assert.deepEqual(value(fields, 'umask'), ['27']);
    assert.deepEqual(value(fields, 'cgroup'), ['/sys/fs/cgroup/unified/dm/u/x']);
    // Joined by its tasks file: a process moving itself by cgroup.procs waits for an RCU
    // grace period (10.6 ms a spawn here); its one thread moved by tasks, not.
    assert.deepEqual(value(fields, 'join'), ['/sys/fs/cgroup/pids/dm/u/x/tasks']);
  });
});
