import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ResilientSink } from './resilient-sink.ts';
import { fileTarget } from './targets.ts';

describe("the manager's own log file, with a rotation policy", () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-rotating-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a line the last manager left torn (its disk full at exit) is ended before the first line', () => {
    const path = join(dir, 'torn.log');
    writeFileSync(path, '2026-12-03T09:48:30.000Z warn alice/st');
    const target = fileTarget(path);
    const time = new Date('2026-12-03T09:48:42.510Z');
    assert.equal(target.send('info', 'started the keeper of daemons', time), 'ok');
    target.reopen();
    assert.equal(target.send('info', 'after a logrotate', time), 'ok');
    assert.equal(
      readFileSync(path, 'utf8'),
      '2026-12-03T09:48:30.000Z warn alice/st\n' +
        '2026-12-03T09:48:42.510Z info started the keeper of daemons\n' +
        '2026-12-03T09:48:42.510Z info after a logrotate\n',
    );
  });

  test('rotates before a line would pass the size, keeping whole lines and `keep` old files', () => {
    const path = join(dir, 'daemon-manager.log');
    const target = fileTarget(path, { maxBytes: 1000, keep: 2 });
    const time = new Date('2026-12-02T00:00:00.000Z');
    for (let index = 0; index < 100; index++)
      assert.equal(
        target.send('info', `${String(index).padStart(4, '0')} ${'x'.repeat(60)}`, time),
        'ok',
      );
    target.close();
    for (const file of [path, `${path}.1`, `${path}.2`]) {
      const text = readFileSync(file, 'utf8');
      assert.ok(statSync(file).size <= 1000, `${file} is ${statSync(file).size} bytes`);
      assert.match(text, /^(\S+ info \d{4} x{60}\n)+$/, `${file} holds whole lines`);
    }
    assert.ok(!existsSync(`${path}.3`), 'no more than keep old files');
    assert.match(readFileSync(path, 'utf8'), /0099 x{60}\n$/, 'the newest line is in the file');
    assert.equal((statSync(path).mode & 0o777).toString(8), '600');
  });
});

describe("the manager's own log on a disk that fills up and frees again", {
  skip: process.getuid?.() !== 0 && 'needs root (mounts a small tmpfs)',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-full-log-'));
  let mounted = false;
  after(() => {
    if (mounted) execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('every line is whole, and the lines dropped meanwhile are counted exactly', async (t) => {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'dm-test-full-log', dir]);
      mounted = true;
    } catch (error) {
      return t.skip(`cannot mount a small tmpfs here: ${(error as Error).message}`);
    }
    const ballast = join(dir, 'ballast');
    // 12 KiB left for the log: it fills after some 150 lines; 1,000 more wait in memory.
    writeFileSync(ballast, Buffer.alloc(500 * 1024, 120));
    const sink = new ResilientSink(() => fileTarget(join(dir, 'daemon-manager.log')), []);
    // Odd-sized lines, so that the disk fills in the middle of one.
    const total = 3_000;
    for (let index = 0; index < total; index++)
      sink.write('info', `line ${index} ${'x'.repeat(37 + (index % 13))}`);
    rmSync(ballast);
    await sink.drain(5_000);
    const lines = readFileSync(join(dir, 'daemon-manager.log'), 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a whole line');
    let dropped = 0;
    const numbers: number[] = [];
    for (const line of lines) {
      const note =
        /^\S+ warn log: (\d+) line\(s\) dropped while the log could not be written$/.exec(line);
      if (note) {
        dropped += Number(note[1]);
        continue;
      }
      const match = /^\S+ info line (\d+) (x+)$/.exec(line);
      assert.ok(match, `a whole line: ${JSON.stringify(line)}`);
      const index = Number(match[1]);
      assert.equal(match[2]?.length, 37 + (index % 13), `line ${index} whole`);
      numbers.push(index);
    }
    assert.ok(dropped > 0, 'the disk did fill');
    assert.deepEqual(
      numbers,
      [...numbers].sort((a, b) => a - b),
      'in order',
    );
    assert.equal(new Set(numbers).size, numbers.length, 'each line once');
    assert.equal(numbers.length + dropped, total, 'every line logged or counted');
  });
});
