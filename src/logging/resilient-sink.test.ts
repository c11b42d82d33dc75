import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Level } from './logger.ts';
import { ResilientSink } from './resilient-sink.ts';
import type { SendResult, Target } from './targets.ts';

/** A target that records what it took and answers as told. */
class FakeTarget implements Target {
  readonly lines: string[] = [];
  answer: () => SendResult = () => 'ok';
  closed = false;
  sends = 0;
  onFailure: Target['onFailure'];
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  send(_level: Level, message: string): SendResult {
    this.sends++;
    const result = this.answer();
    if (result === 'ok') this.lines.push(message);
    return result;
  }
  reopen(): void {}
  close(): void {
    this.closed = true;
  }
}

describe('ResilientSink', () => {
  test('lines go to the target in order', () => {
    const stderr = new FakeTarget('stderr');
    const sink = new ResilientSink(() => stderr, []);
    sink.write('info', 'one');
    sink.write('warn', 'two');
    assert.deepEqual(stderr.lines, ['one', 'two']);
  });

  test('a target that fails for good is replaced by the fallback, which says why first', () => {
    const stderr = new FakeTarget('stderr');
    const file = new FakeTarget('/state/daemon-manager.log');
    const sink = new ResilientSink(() => stderr, [() => file]);
    sink.write('info', 'before');
    stderr.answer = () => ({ failed: 'EPIPE' });
    sink.write('info', 'after');
    sink.write('info', 'later');
    assert.deepEqual(stderr.lines, ['before']);
    assert.ok(stderr.closed);
    assert.deepEqual(file.lines, [
      'log: cannot write to stderr (EPIPE); logging to /state/daemon-manager.log from now on',
      'after',
      'later',
    ]);
    assert.equal(stderr.sends, 2, 'the failed target is not tried again');
    assert.equal(sink.destination, '/state/daemon-manager.log');
  });

  test('drain: the last lines wait for a busy target, for a bounded time', async () => {
    const syslog = new FakeTarget('syslog');
    const sink = new ResilientSink(() => syslog, []);
    let busyFor = 5;
    syslog.answer = () => (busyFor-- > 0 ? 'busy' : 'ok');
    sink.write('info', 'all daemons stopped; exiting');
    assert.deepEqual(syslog.lines, [], 'busy at first');
    await sink.drain(5_000);
    assert.deepEqual(syslog.lines, ['all daemons stopped; exiting']);

    syslog.answer = () => 'busy';
    sink.write('info', 'never taken');
    const started = Date.now();
    await sink.drain(50);
    assert.ok(Date.now() - started < 5_000, 'a target that stays busy does not hold the exit');
    assert.deepEqual(syslog.lines, ['all daemons stopped; exiting']);
  });

  test('a target that cannot even be opened gives way to the fallback at once', () => {
    const file = new FakeTarget('/state/daemon-manager.log');
    const sink = new ResilientSink(() => {
      throw Object.assign(new Error('ENXIO'), { code: 'ENXIO', path: '/proc/self/fd/2' });
    }, [() => file]);
    sink.write('info', 'hello');
    assert.deepEqual(file.lines, [
      'log: cannot open /proc/self/fd/2 (ENXIO); logging to /state/daemon-manager.log from now on',
      'hello',
    ]);
  });

  test('with nowhere left to write, lines are dropped without an error', () => {
    const stderr = new FakeTarget('stderr');
    const sink = new ResilientSink(() => stderr, []);
    stderr.answer = () => ({ failed: 'EPIPE' });
    for (let i = 0; i < 5; i++) sink.write('error', `line ${i}`);
    assert.equal(stderr.sends, 1);
    assert.equal(sink.destination, undefined);
  });

  test('a busy target is retried a few times a second, then given up after 10 s', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 1_000_000;
    const stderr = new FakeTarget('stderr');
    const file = new FakeTarget('/state/daemon-manager.log');
    const sink = new ResilientSink(
      () => stderr,
      [() => file],
      () => now,
    );
    stderr.answer = () => 'busy';
    sink.write('info', 'queued');
    sink.write('info', 'also queued');
    assert.equal(stderr.sends, 1, 'a write while busy waits for the retry');
    for (let step = 0; step < 39; step++) {
      now += 250;
      t.mock.timers.tick(250);
    }
    assert.equal(stderr.sends, 40, 'one try per retry, no spinning');
    assert.deepEqual(file.lines, []);
    now += 250;
    t.mock.timers.tick(250);
    assert.deepEqual(file.lines, [
      'log: stderr took no line for 10 s; logging to /state/daemon-manager.log from now on',
      'queued',
      'also queued',
    ]);
  });

  test('a target busy for a moment loses nothing', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const stderr = new FakeTarget('stderr');
    const sink = new ResilientSink(() => stderr, [() => new FakeTarget('file')]);
    let busy = 2;
    stderr.answer = () => (busy-- > 0 ? 'busy' : 'ok');
    sink.write('info', 'a');
    sink.write('info', 'b');
    t.mock.timers.tick(250);
    t.mock.timers.tick(250);
    assert.deepEqual(stderr.lines, ['a', 'b']);
  });

  /** A sink over a disk that takes no line until told (timers mocked). */
  function fullDisk(t: TestContext): { disk: FakeTarget; sink: ResilientSink } {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const disk = new FakeTarget('/state/daemon-manager.log');
    const sink = new ResilientSink(() => disk, []);
    disk.answer = () => 'busy';
    return { disk, sink };
  }

  test('past 1,000 waiting lines the oldest are dropped and counted; one half written is finished first', (t) => {
    const { disk, sink } = fullDisk(t);
    for (let i = 0; i < 1_005; i++) sink.write('info', `line ${i}`);
    disk.answer = () => 'ok';
    t.mock.timers.tick(250);
    // The oldest was tried, so may be half written: it is kept, and the ones after it go.
    assert.deepEqual(disk.lines.slice(0, 3), [
      'line 0',
      'log: 5 line(s) dropped while the log could not be written',
      'line 6',
    ]);
    assert.equal(disk.lines.at(-1), 'line 1004');
  });

  test('every line dropped over a long spell is counted, in one note once the disk takes lines', (t) => {
    const { disk, sink } = fullDisk(t);
    // Retries come between the drops: a note made at one was itself dropped by the next.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1_000; i++) sink.write('info', `line ${round * 1_000 + i}`);
      t.mock.timers.tick(250);
    }
    disk.answer = () => 'ok';
    t.mock.timers.tick(250);
    assert.deepEqual(disk.lines.slice(0, 3), [
      'line 0',
      'log: 4000 line(s) dropped while the log could not be written',
      'line 4001',
    ]);
    assert.equal(disk.lines.length, 1_001);
  });
});

test('lines a target took but could not deliver (an asynchronous EPIPE) go to the fallback', () => {
  const stderr = new FakeTarget('stderr');
  const file = new FakeTarget('/state/daemon-manager.log');
  const sink = new ResilientSink(() => stderr, [() => file]);
  sink.write('info', 'taken, then lost');
  stderr.onFailure?.('cannot write to stderr (EPIPE)', [
    { level: 'info', message: 'taken, then lost', time: new Date(0) },
  ]);
  sink.write('info', 'next');
  assert.deepEqual(file.lines, [
    'log: cannot write to stderr (EPIPE); logging to /state/daemon-manager.log from now on',
    'taken, then lost',
    'next',
  ]);
});
