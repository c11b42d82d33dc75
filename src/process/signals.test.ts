import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSignal } from './signals.ts';

describe('parseSignal', () => {
  const cases: [string, NodeJS.Signals | undefined][] = [
    ['-9', 'SIGKILL'],
    ['-KILL', 'SIGKILL'],
    ['-SIGKILL', 'SIGKILL'],
    ['KILL', 'SIGKILL'],
    ['SIGKILL', 'SIGKILL'],
    ['9', 'SIGKILL'],
    ['hup', 'SIGHUP'],
    ['-hup', 'SIGHUP'],
    ['-HUP', 'SIGHUP'],
    ['sigterm', 'SIGTERM'],
    ['SigUsr1', 'SIGUSR1'],
    ['-1', 'SIGHUP'],
    ['15', 'SIGTERM'],
    ['-USR2', 'SIGUSR2'],
    ['-CONT', 'SIGCONT'],
    ['-STOP', 'SIGSTOP'],
    ['-6', 'SIGABRT'],
    ['29', 'SIGIO'],
    ['bogus', undefined],
    ['-bogus', undefined],
    ['', undefined],
    ['-', undefined],
    ['--9', undefined],
    ['SIG', undefined],
    ['-0', undefined],
    ['99', undefined],
    ['-9x', undefined],
    [' 9', undefined],
    ['9.0', undefined],
    ['SIGSIGKILL', undefined],
    ['toString', undefined],
    ['__proto__', undefined],
  ];
  for (const [text, expected] of cases) {
    test(`'${text}' is ${expected ?? 'not a signal'}`, () => {
      assert.equal(parseSignal(text), expected);
    });
  }
});
