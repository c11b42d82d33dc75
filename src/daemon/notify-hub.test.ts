import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import type { KeeperLink } from '../keeper/link.ts';
import type { Logger } from '../logging/logger.ts';
import type { NotifyMessage } from '../notify/message.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import { NotifyHub } from './notify-hub.ts';

/** A daemon's socket as the fake addon holds it: the hub's callback, and whether it reads. */
interface FakeSocket {
  readonly send: (data: Buffer) => void;
  paused: boolean;
  /** What the kernel holds unread (a stall of the manager): read by the hub's drain. */
  readonly queued: Buffer[];
}

/**
 * A hub over fake sockets: every daemon's run has the test's own process as its main pid
 * (so the sender check passes without cgroups), and what reaches `deliver` is recorded.
 */
function setUp(dir: string): {
  hub: NotifyHub;
  daemon: (owner: string, name: string) => FakeSocket;
  delivered: { id: string; message: NotifyMessage }[];
} {
  const records = new Map<string, DaemonRecord>();
  const sockets = new Map<number, FakeSocket>();
  const delivered: { id: string; message: NotifyMessage }[] = [];
  const quiet = (): void => {};
  const log = { debug: quiet, info: quiet, warn: quiet, error: quiet } as unknown as Logger;
  const link = { store: quiet, drop: quiet } as unknown as KeeperLink;
  let nextFd = 100;
  const hub = new NotifyHub(
    {
      log,
      link: () => link,
      bindNotify: () => nextFd++,
      watchNotify: (fd, onMessage) => {
        const socket: FakeSocket = {
          send: (data) => {
            if (!socket.paused) onMessage(process.pid, process.getuid?.() ?? 0, 0, data);
          },
          paused: false,
          queued: [],
        };
        sockets.set(fd, socket);
        return {
          pause: () => {
            socket.paused = true;
          },
          resume: () => {
            socket.paused = false;
          },
          close: () => sockets.delete(fd),
          drain: () => {
            while (!socket.paused && socket.queued.length > 0) {
              const data = socket.queued.shift();
              if (data !== undefined) onMessage(process.pid, process.getuid?.() ?? 0, 0, data);
            }
          },
        };
      },
      closeFd: quiet,
      daemon: (id) => records.get(id),
      placeOf: () => ({ leaf: undefined, mainPid: process.pid, run: 1 }),
      deliver: (record, _run, message) => delivered.push({ id: record.id, message }),
    },
    dir,
    0o711,
  );
  const daemon = (owner: string, name: string): FakeSocket => {
    const { spec } = parseDaemonConfig('start=./x\nready=notify\n', `${name}.conf`, name);
    assert.ok(spec);
    const record = newRecord(owner, spec);
    records.set(record.id, record);
    const before = nextFd;
    hub.socketFor(record, process.getuid?.() ?? 0, 0);
    const socket = sockets.get(before);
    assert.ok(socket, `a socket for ${record.id}`);
    return socket;
  };
  return { hub, daemon, delivered };
}

let dir = '';
beforeEach(() => {
  // Time stands still: what the hub reads is bounded by its budgets, not by the test's speed.
  mock.timers.enable({ apis: ['Date', 'setTimeout'] });
  dir = mkdtempSync(join(tmpdir(), 'dm-notify-hub-'));
});
afterEach(() => {
  mock.timers.reset();
  rmSync(dir, { recursive: true, force: true });
});

const BIG_STATUS = Buffer.from(`STATUS=${'A'.repeat(3_993)}`);

test("120 daemons sending 4000-byte STATUS= are read for a bounded number of bytes, and the user's READY=1 and another user's still count", () => {
  const { hub, daemon, delivered } = setUp(dir);
  const flooders = Array.from({ length: 120 }, (_, index) => daemon('mallory', `f${index}`));
  const late = daemon('mallory', 'late');
  const other = daemon('alice', 'web');
  let read = 0;
  for (const socket of flooders)
    while (!socket.paused) {
      socket.send(BIG_STATUS);
      read++;
    }
  // All of a user's daemons together are read for 256 KiB at once, then one message each
  // (the one read when its socket is paused); by messages alone, 2,000 were read (8 MB).
  assert.ok(read <= (256 * 1024) / BIG_STATUS.length + 1 + flooders.length, `${read} read`);

  late.send(Buffer.from('READY=1'));
  other.send(Buffer.from('READY=1'));
  const ready = delivered.filter(({ message }) => message.ready).map(({ id }) => id);
  assert.deepEqual(ready, ['mallory/late', 'alice/web']);
  assert.equal(other.paused, false, "another user's daemon is read on");
  hub.releaseAll();
});

test("a stall's backlog read at a deadline is read up to the rate, and the rest once the pause's time is over", () => {
  const { hub, daemon, delivered } = setUp(dir);
  const socket = daemon('alice', 'wd');
  // 150 messages queued while the manager stalled (a kernel whose max_dgram_qlen allows it).
  for (let index = 0; index < 150; index++) socket.queued.push(Buffer.from('WATCHDOG=1'));
  // Its burst of 100, and the one read past it, which still counts; then a pause of 1 s.
  assert.equal(hub.readQueued('alice/wd'), 1_000);
  assert.equal(delivered.length, 101);
  // Asked again during the pause: nothing is read, and it says how long is left.
  mock.timers.tick(400);
  assert.equal(hub.readQueued('alice/wd'), 600);
  assert.equal(delivered.length, 101);
  // The pause's time is over though its timer has not run (timers run late after a stall).
  mock.timers.setTime(Date.now() + 600);
  assert.equal(hub.readQueued('alice/wd'), undefined);
  assert.deepEqual([delivered.length, socket.queued.length], [150, 0]);
  hub.releaseAll();
});
