import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LogPump, type PumpEvent } from '../../src/logs/pump.ts';
import { numberedFeed, numberedText } from '../helpers/pipes.ts';

const ROOT = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, groupIds: [] };
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

describe('the native log pump', () => {
  const dir = mkdtempSync('/tmp/dm-pump-');
  const events: PumpEvent[] = [];
  const pump = new LogPump((event) => events.push(event));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const attachFeed = (
    name: string,
    count: number,
    options: { maxBytes?: number; keep?: number; timestamps?: boolean; width?: number } = {},
  ) => {
    const feed = numberedFeed(dir, name, count, options.width ?? 100);
    const log = join(dir, `${name}.log`);
    pump.attach(
      name,
      feed.readFd,
      openSync(log, 'a'),
      {
        maxBytes: options.maxBytes ?? 0,
        keep: options.keep ?? 1,
        timestamps: options.timestamps ?? false,
      },
      ROOT,
      log,
    );
    return { feed, log };
  };

  test('moves many MB from several pipes at once, in order, without losing a line', async () => {
    const feeds = ['a', 'b', 'c'].map((name) => attachFeed(name, 100_000));
    for (const name of ['a', 'b', 'c'])
      assert.equal(await pump.drainUntilEof(name, 120_000), true, `${name} reached its end`);
    const expected = numberedText(100_000);
    for (const { log } of feeds)
      assert.ok(readFileSync(log, 'utf8') === expected, `${log} holds every line in order`);
    assert.deepEqual(pump.stats('a'), {
      bytes: expected.length,
      dropped: 0,
      size: expected.length,
      failing: false,
      stuck: false,
      eof: true,
      away: false,
      reason: '',
      gapBytes: 0,
      gapError: 0,
      skipRest: false,
      // The file it writes (handed to it), and none it wrote before.
      dev: statSync(feeds[0]?.log ?? '').dev,
      ino: statSync(feeds[0]?.log ?? '').ino,
      btime: statSync(feeds[0]?.log ?? '', { bigint: true }).birthtimeNs.toString(),
      retired: [],
    });
    for (const name of ['a', 'b', 'c']) {
      const fd = await pump.detach(name);
      assert.equal(typeof fd, 'number');
      if (fd !== undefined) closeSync(fd);
    }
  });

  test('rotation by size never splits a line', async () => {
    const { log } = attachFeed('rot', 30_000, { maxBytes: 64 * 1024, keep: 1000, width: 137 });
    assert.equal(await pump.drainUntilEof('rot', 120_000), true);
    const files = readdirSync(dir)
      .filter((name) => name.startsWith('rot.log'))
      .sort((x, y) => Number(y.split('.')[2] ?? 0) - Number(x.split('.')[2] ?? 0));
    assert.ok(files.length > 30, `rotated ${files.length - 1} times`);
    const texts = files.map((name) => readFileSync(join(dir, name), 'utf8'));
    for (const [index, text] of texts.entries()) {
      if (text.length === 0) continue;
      assert.ok(text.endsWith('\n'), `${files[index]} ends with a whole line`);
      assert.ok(text.length <= 64 * 1024 + 137, `${files[index]} is ${text.length} bytes`);
    }
    assert.ok(
      texts.join('') === numberedText(30_000, 137),
      'the files together hold every line once, in order',
    );
    assert.ok(
      events.filter((e) => e.type === 'rotated' && e.id === 'rot').length >= files.length - 1,
    );
    assert.equal(log, join(dir, 'rot.log'));
    // What a reader through the manager follows: the file written now, and the last four
    // it wrote before, oldest first, each noted where the rotation put it.
    const stats = pump.stats('rot');
    assert.equal(stats?.ino, statSync(log).ino);
    // With its birth time: a file made after one deleted may get its inode number back.
    assert.equal(stats?.btime, statSync(log, { bigint: true }).birthtimeNs.toString());
    assert.deepEqual(
      stats?.retired.map((file) => file.ino),
      [4, 3, 2, 1].map((index) => statSync(`${log}.${index}`).ino),
    );
    assert.deepEqual(new Set(stats?.retired.map((file) => file.path)), new Set([`${log}.1`]));
  });

  test('timestamps prefix every line, once, with the time it was read', async () => {
    const { log } = attachFeed('stamped', 20_000, {
      timestamps: true,
      maxBytes: 256 * 1024,
      keep: 1000,
    });
    assert.equal(await pump.drainUntilEof('stamped', 120_000), true);
    const names = readdirSync(dir)
      .filter((name) => name.startsWith('stamped.log'))
      .sort((x, y) => Number(y.split('.')[2] ?? 0) - Number(x.split('.')[2] ?? 0));
    const lines = names
      .map((name) => readFileSync(join(dir, name), 'utf8'))
      .join('')
      .split('\n')
      .slice(0, -1);
    assert.equal(lines.length, 20_000);
    for (const line of lines) assert.match(line, STAMP);
    assert.ok(lines.map((line) => `${line.slice(25)}\n`).join('') === numberedText(20_000));
    assert.ok(readFileSync(log, 'utf8').length <= 256 * 1024 + 125);
  });
});
