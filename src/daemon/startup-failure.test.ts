import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeeperNotAnswering, keeperSilence } from '../keeper/hello.ts';
import { GetentFailed } from '../users/getent.ts';
import { startupFailure } from './startup-failure.ts';

function systemError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

test('out of descriptors names the limit and how to raise it, on one line', () => {
  const said = startupFailure(
    systemError('EMFILE', "EMFILE: too many open files, scandir '/proc'"),
    [64, 64],
  );
  assert.equal(said.split('\n').length, 1);
  assert.match(said, /open-files limit is 64 \(hard limit 64\)/);
  assert.match(said, /LimitNOFILE=/);
  assert.match(said, /ulimit -n/);
  assert.match(said, /scandir '\/proc'/);
});

test('an unlimited hard limit is said in words', () => {
  assert.match(
    startupFailure(systemError('EMFILE', 'EMFILE'), [1024, -1]),
    /1024 \(hard limit unlimited\)/,
  );
});

test('another system error is its message alone', () => {
  assert.equal(
    startupFailure(systemError('EACCES', "EACCES: permission denied, open '/x'"), undefined),
    "daemon-manager: cannot start: EACCES: permission denied, open '/x'",
  );
});

test('a getent that gave no answer is named, with where the users come from', () => {
  const said = startupFailure(
    new GetentFailed('getent passwd gave no answer within 30 s (a name service not answering?)'),
    undefined,
  );
  assert.equal(said.split('\n').length, 1);
  assert.match(said, /^daemon-manager: cannot start: getent passwd gave no answer within 30 s/);
  assert.match(said, /\/etc\/nsswitch\.conf/);
});

test('a bug keeps its stack, to be reported', () => {
  const said = startupFailure(new TypeError('x is undefined'), undefined);
  assert.match(said, /^daemon-manager: cannot start: x is undefined \(a bug/);
  assert.match(said, /\n {4}at /);
});

test('a keeper that does not answer is said as such, without a stack', () => {
  // A live pid: this process stands for the keeper.
  const pid = process.pid;
  const said = startupFailure(new KeeperNotAnswering(keeperSilence(pid, 'hello', 10)), undefined);
  assert.equal(
    said,
    `daemon-manager: cannot start: dm-keeper (pid ${pid}) has not answered hello for 10 s: is it stopped (kill -CONT ${pid}) or starved of CPU?`,
  );
});

test('a keeper gone while its socket answers is said so: another process holds the socket', () => {
  // A pid no process has: past pid_max.
  const gone = 4_194_304 + 1;
  const said = startupFailure(new KeeperNotAnswering(keeperSilence(gone, 'hello', 10)), undefined);
  assert.match(
    said,
    /has not answered hello for 10 s, and it is gone: another process holds its socket open/,
  );
});
