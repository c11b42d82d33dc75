import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LogPump, type PumpEvent } from '../../src/logs/pump.ts';
import { type Spawned, spawnCollecting } from '../helpers/cli.ts';
import { buildHangFs, fuseMissing, type HangFs, mountHangFs } from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { numberedFeed, numberedText } from '../helpers/pipes.ts';
import { mkdirOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOT = { uid: 0, gid: 0, groupIds: [] };
/** A time stamp's length at the start of each line (native/log_files.h). */
const STAMP = 25;

/** The highest N of the whole `line N` lines of a text. */
function lastLine(text: string): number {
  const whole = text.slice(0, text.lastIndexOf('\n'));
  return Number(/line (\d+)$/.exec(whole)?.[1] ?? 0);
}

describe('the log pump when files fail', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const events: PumpEvent[] = [];
  const pump = new LogPump((event) => events.push(event), { deadlineMs: 1000 });
  const stoppers: (() => Promise<void> | void)[] = [];
  const full = (): string => join(host.dir, 'full');
  after(async () => {
    for (const stop of stoppers.reverse()) await stop();
    await host.cleanup();
  });
  /** Mounts a 256 KiB tmpfs at `dir` (unmounted after); why not, if it cannot. */
  const mountSmall = (dir: string): string | undefined => {
    mkdirSync(dir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'dm-test-pump', dir]);
    } catch (error) {
      return `cannot mount a small tmpfs: ${(error as Error).message}`;
    }
    stoppers.push(() => {
      execFileSync('umount', ['-l', dir]);
    });
    return undefined;
  };
  const seen = (id: string, type: PumpEvent['type']): PumpEvent[] =>
    events.filter((e) => e.id === id && e.type === type);

  test('a full disk drops output, says so once, and writing resumes by itself', async (t) => {
    const skip = mountSmall(full());
    if (skip) return t.skip(skip);
    // 16 KiB left for the log. Freed, the ballast leaves room for more than a chunk the
    // pump writes at once (64 KiB): recovery is reported at the first write that goes
    // through whole, and with less room freed the disk may fill again before one does.
    writeFileSync(join(full(), 'ballast'), Buffer.alloc(240 * 1024, 120));
    const fifo = join(host.dir, 'endless.fifo');
    execFileSync('mkfifo', [fifo]);
    const readFd = openSync(fifo, 'r+');
    const writer: Spawned = spawnCollecting([
      'sh',
      '-c',
      `i=0; while :; do i=$((i+1)); echo "line $i"; done > ${fifo}`,
    ]);
    stoppers.push(() => writer.stop());
    const log = join(full(), 'filler.log');
    pump.attach(
      'filler',
      readFd,
      openSync(log, 'a'),
      { maxBytes: 0, keep: 1, timestamps: false },
      ROOT,
      log,
    );
    await waitFor('the pump to report the full disk', () =>
      seen('filler', 'error').length > 0 ? true : undefined,
    );
    const error = seen('filler', 'error')[0];
    assert.match(
      error?.type === 'error' ? error.message : '',
      /^cannot write \(ENOSPC\); output is being dropped$/,
    );
    await waitFor('output to be dropped', () =>
      (pump.stats('filler')?.dropped ?? 0) > 100_000 ? true : undefined,
    );
    assert.equal(seen('filler', 'error').length, 1, 'said once, not once per write');
    const whenFull = lastLine(readFileSync(log, 'utf8'));
    rmSync(join(full(), 'ballast'));
    await waitFor('writing to resume', () =>
      seen('filler', 'recovered').length > 0 ? true : undefined,
    );
    await waitFor('newer lines in the log', () =>
      lastLine(readFileSync(log, 'utf8')) > whenFull + 100 ? true : undefined,
    );
    await writer.stop();
    const dropped = pump.stats('filler')?.dropped;
    await pump.detach('filler');
    // Chunks cut lines anywhere: around the gap a cut line ends where it was cut, and the
    // rest of a dropped line is dropped too, never joined to another.
    const lines = readFileSync(log, 'utf8').split('\n').slice(0, -1);
    // Where writing resumed, a line says that output was dropped there, and how much (the
    // small file system may fill up again before the writer stops: a gap each time).
    const marker =
      /^--- \S+Z daemon-manager: (\d+) bytes of output dropped here \(cannot write: ENOSPC\)$/;
    const noted = lines.map((line) => Number(marker.exec(line)?.[1] ?? 0)).filter((n) => n > 0);
    assert.ok(noted.length >= 1, 'no note where output was dropped');
    const total = noted.reduce((sum, count) => sum + count, 0);
    assert.ok(total <= (dropped ?? 0), `noted ${total} bytes, dropped ${dropped}`);
    const broken = lines.filter(
      (line) => !/^line \d+$/.test(line) && !'line '.startsWith(line) && !marker.test(line),
    );
    assert.deepEqual(broken.slice(0, 5), [], 'pieces of lines joined across the gap');
  });

  test('a chunk cut by a full disk: what the disk took counts as written, the rest as dropped', async (t) => {
    const small = join(host.dir, 'cut');
    const skip = mountSmall(small);
    if (skip) return t.skip(skip);
    // 8 KiB left: the first chunk (64 KiB, time-stamped to about 80 KiB) fills it half-way.
    writeFileSync(join(small, 'ballast'), Buffer.alloc(248 * 1024, 120));
    const feeds = join(host.dir, 'cut-feeds');
    mkdirSync(feeds);
    const lines = 2000;
    const feed = numberedFeed(feeds, 'cut', lines);
    stoppers.push(() => feed.writer.stop());
    const log = join(small, 'cut.log');
    pump.attach(
      'cut',
      feed.readFd,
      openSync(log, 'a'),
      { maxBytes: 0, keep: 1, timestamps: true },
      ROOT,
      log,
    );
    assert.equal(await pump.drainUntilEof('cut', 60_000), true);
    const stats = pump.stats('cut');
    await pump.detach('cut');
    // The daemon's bytes in the file: each line less its stamp; a stamp alone (the disk
    // full right after it) brings none.
    const text = readFileSync(log, 'utf8');
    assert.ok(text.length > 0 && text.length < 8 * 1024 + 1, `the file holds ${text.length} bytes`);
    const raw = text
      .split('\n')
      .map((line, index, all) =>
        line.length < STAMP ? 0 : line.length - STAMP + (index < all.length - 1 ? 1 : 0),
      )
      .reduce((sum, count) => sum + count, 0);
    assert.equal(stats?.bytes, raw, 'counted as written: what is in the file');
    assert.equal(
      (stats?.bytes ?? 0) + (stats?.dropped ?? 0),
      lines * 100,
      'every byte counted once',
    );
  });

  test("a log on a file system that never answers: its owner's pipes leave the pump, others flow on", async (t) => {
    const missing = fuseMissing();
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    const mountpoint = join(alice.home, 'hanging');
    mkdirOwned(mountpoint, alice);
    const mount: HangFs = await mountHangFs(buildHangFs(host.dir), mountpoint, alice, 'root');
    stoppers.push(() => mount.stop());
    const feeds = join(host.dir, 'feeds');
    mkdirSync(feeds);
    const stuckFeed = numberedFeed(feeds, 'stuck', 1_000_000);
    stoppers.push(() => stuckFeed.writer.stop());
    // No descriptor yet: the pump opens the log itself, as alice, and that open hangs.
    pump.attach(
      'stuck',
      stuckFeed.readFd,
      -1,
      { maxBytes: 0, keep: 1, timestamps: false },
      { uid: alice.uid, gid: alice.gid, groupIds: [alice.gid] },
      join(mountpoint, 'web.log'),
    );
    const message = await waitFor('the watchdog to find the pump stuck', () => {
      const stuck = seen('stuck', 'stuck')[0];
      return stuck?.type === 'stuck' ? stuck.message : undefined;
    });
    assert.equal(
      message,
      `${join(mountpoint, 'web.log')}: no answer within 1 s (an NFS or FUSE mount?); output is held in the pipe`,
    );
    assert.equal(pump.stats('stuck')?.stuck, true);
    // Another daemon's output flows meanwhile, through the replacement pump thread.
    const flowing = numberedFeed(feeds, 'flowing', 50_000);
    const flowingLog = join(host.dir, 'flowing.log');
    pump.attach(
      'flowing',
      flowing.readFd,
      openSync(flowingLog, 'a'),
      { maxBytes: 0, keep: 1, timestamps: false },
      ROOT,
      flowingLog,
    );
    assert.equal(await pump.drainUntilEof('flowing', 60_000), true);
    assert.ok(
      readFileSync(flowingLog, 'utf8') === numberedText(50_000),
      'every line of the other pipe is in its log',
    );
    assert.equal(pump.stats('stuck')?.stuck, true, 'still stuck all along');
    // The server goes away: the stuck call returns, and alice's pipe is back in the pump.
    await mount.server.stop();
    await waitFor('the stuck pipe to come back', () =>
      seen('stuck', 'recovered').length > 0 ? true : undefined,
    );
    assert.equal(pump.stats('stuck')?.stuck, false);
  });
});
