import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SuccessExit } from '../config/daemon.ts';
import { afterExit, isCleanExit } from './restart-rule.ts';
import type { Exit } from './state.ts';

const NOTHING: SuccessExit = { codes: [], signals: [] };
const SOME: SuccessExit = { codes: [3], signals: ['SIGHUP'] };
const code = (n: number): Exit => ({ code: n, signal: null });
const signal = (name: NodeJS.Signals): Exit => ({ code: null, signal: name });

describe('isCleanExit', () => {
  const cases: { name: string; exit: Exit | undefined; success: SuccessExit; clean: boolean }[] = [
    { name: 'status 0 is clean', exit: code(0), success: NOTHING, clean: true },
    { name: 'status 1 is a failure', exit: code(1), success: NOTHING, clean: false },
    { name: 'a listed status is clean', exit: code(3), success: SOME, clean: true },
    {
      name: 'status 0 stays clean when others are listed',
      exit: code(0),
      success: SOME,
      clean: true,
    },
    { name: 'a signal is a failure', exit: signal('SIGHUP'), success: NOTHING, clean: false },
    { name: 'a listed signal is clean', exit: signal('SIGHUP'), success: SOME, clean: true },
    { name: 'another signal is a failure', exit: signal('SIGTERM'), success: SOME, clean: false },
    {
      name: 'an OOM kill is a failure',
      exit: { code: null, signal: 'SIGKILL', oom: true },
      success: { codes: [], signals: ['SIGKILL'] },
      clean: false,
    },
    {
      name: 'a start that failed is a failure',
      exit: { code: 0, signal: null, error: 'cannot enter dir' },
      success: NOTHING,
      clean: false,
    },
    {
      name: 'an end nobody saw is a failure',
      exit: { code: null, signal: null },
      success: NOTHING,
      clean: false,
    },
    { name: 'no exit at all is a failure', exit: undefined, success: NOTHING, clean: false },
  ];
  for (const { name, exit, success, clean } of cases)
    test(name, () => assert.equal(isCleanExit(exit, success), clean));
});

describe('afterExit', () => {
  test('restart=always respawns after anything', () => {
    assert.deepEqual(
      [code(0), code(1), signal('SIGSEGV')].map((exit) => afterExit('always', NOTHING, exit)),
      ['respawn', 'respawn', 'respawn'],
    );
  });
  test('restart=on-failure respawns after a failure, leaves a clean exit down', () => {
    assert.deepEqual(
      [code(0), code(3), code(1), signal('SIGHUP')].map((exit) =>
        afterExit('on-failure', SOME, exit),
      ),
      ['exited', 'exited', 'respawn', 'exited'],
    );
  });
  test('restart=no never respawns: exited or failed', () => {
    assert.deepEqual(
      [code(0), code(1), signal('SIGKILL')].map((exit) => afterExit('no', NOTHING, exit)),
      ['exited', 'failed', 'failed'],
    );
  });
});
