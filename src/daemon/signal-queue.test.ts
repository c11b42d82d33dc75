import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type QueuedSignal, queueSignal, SignalQueue } from './signal-queue.ts';

describe('queueSignal', () => {
  const cases: [string, QueuedSignal[], QueuedSignal, boolean, QueuedSignal[]][] = [
    ['a signal into an empty queue waits', [], 'SIGHUP', false, ['SIGHUP']],
    ['a SIGHUP already waiting takes in the next', ['SIGHUP'], 'SIGHUP', false, ['SIGHUP']],
    ['a SIGUSR1 already waiting takes in the next', ['SIGUSR1'], 'SIGUSR1', false, ['SIGUSR1']],
    ['a SIGUSR2 already waiting takes in the next', ['SIGUSR2'], 'SIGUSR2', false, ['SIGUSR2']],
    ['different signals wait in order', ['SIGUSR1'], 'SIGHUP', false, ['SIGUSR1', 'SIGHUP']],
    [
      'a SIGTERM goes first, drops the reload and upgrade waiting, keeps the log reopen',
      ['SIGHUP', 'SIGUSR1', 'SIGUSR2'],
      'SIGTERM',
      false,
      ['SIGTERM', 'SIGUSR1'],
    ],
    ['a SIGINT goes first too', ['SIGHUP'], 'SIGINT', false, ['SIGINT']],
    ['a SIGHUP behind a waiting stop is dropped', ['SIGTERM'], 'SIGHUP', false, ['SIGTERM']],
    ['a SIGUSR2 behind a waiting stop is dropped', ['SIGINT'], 'SIGUSR2', false, ['SIGINT']],
    ['a second stop is dropped', ['SIGTERM'], 'SIGINT', false, ['SIGTERM']],
    [
      'a SIGUSR1 behind a stop still reopens the logs',
      ['SIGTERM'],
      'SIGUSR1',
      false,
      ['SIGTERM', 'SIGUSR1'],
    ],
    ['once stopping, a SIGHUP is dropped', [], 'SIGHUP', true, []],
    ['once stopping, another SIGTERM is dropped', [], 'SIGTERM', true, []],
    ['once stopping, a SIGUSR1 still waits', [], 'SIGUSR1', true, ['SIGUSR1']],
  ];
  for (const [name, queued, signal, stopping, expected] of cases)
    test(name, () => {
      assert.deepEqual(queueSignal(queued, signal, stopping), expected);
    });
});

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('SignalQueue', () => {
  test('real SIGHUPs sent during a reload make one more; a SIGTERM drops it and goes next', async () => {
    const signals = new SignalQueue();
    const acted: QueuedSignal[] = [];
    let finishReload = (): void => {};
    try {
      signals.deliverTo(async (signal) => {
        acted.push(signal);
        if (acted.length === 1) await new Promise<void>((resolve) => (finishReload = resolve));
      });
      process.kill(process.pid, 'SIGHUP');
      await until('the first SIGHUP to be acted on', () => acted.length === 1);
      for (let i = 0; i < 200; i++) process.kill(process.pid, 'SIGHUP');
      await until('a SIGHUP to wait', () => signals.pending.includes('SIGHUP'));
      assert.deepEqual(signals.pending, ['SIGHUP'], 'the SIGHUPs are merged into one');
      process.kill(process.pid, 'SIGTERM');
      await until('the SIGTERM to wait', () => signals.pending.includes('SIGTERM'));
      assert.deepEqual(signals.pending, ['SIGTERM'], 'the SIGHUP waiting is dropped');
      finishReload();
      await until('the SIGTERM to be acted on', () => acted.includes('SIGTERM'));
      process.kill(process.pid, 'SIGHUP');
      process.kill(process.pid, 'SIGUSR1');
      await until('the SIGUSR1 to be acted on', () => acted.includes('SIGUSR1'));
      assert.deepEqual(acted, ['SIGHUP', 'SIGTERM', 'SIGUSR1'], 'no reload once stopping');
    } finally {
      finishReload();
      signals.release();
    }
  });
});

describe('SignalQueue.stopComing', () => {
  test('a real SIGTERM aborts it while an act still waits, its reason the signal', async () => {
    const signals = new SignalQueue();
    const acted: QueuedSignal[] = [];
    try {
      signals.deliverTo(async (signal) => {
        acted.push(signal);
        if (signal !== 'SIGHUP') return;
        // A reload that waits for getent until a stop comes.
        await new Promise<void>((resolve) =>
          signals.stopComing.addEventListener('abort', () => resolve(), { once: true }),
        );
      });
      process.kill(process.pid, 'SIGHUP');
      await until('the SIGHUP to be acted on', () => acted.length === 1);
      assert.equal(signals.stopComing.aborted, false, 'a SIGHUP does not abort it');
      process.kill(process.pid, 'SIGTERM');
      await until('the SIGTERM to be acted on', () => acted.includes('SIGTERM'));
      assert.equal(signals.stopComing.reason, 'SIGTERM');
      assert.deepEqual(acted, ['SIGHUP', 'SIGTERM']);
    } finally {
      signals.release();
    }
  });
});
