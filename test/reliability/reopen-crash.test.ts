import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const DAEMONS = ['plain', 'stamped', 'sized'] as const;
/** How the manager is interrupted while a reopen waits for the end of a line. */
const WAYS = ['killed at once', 'killed once the pump acted on the signal', 'upgraded'] as const;
const CYCLES = 6;

/**
 * A daemon that writes `piece N ` and goes on with `rest-of-line-N\nwhole-line-N\n` only
 * once the test made the file GO/NAME.N: a line stays under way for as long as the test
 * wants, so the window between a SIGUSR1 and the end of that line is always hit.
 */
function halves(go: string, name: string, extra: string): string {
  return (
    `start=i=0; while :; do i=$((i+1)); printf "piece %d " $i; ` +
    `while [ ! -e ${go}/${name}.$i ]; do sleep 0.01; done; printf "rest-of-line-%d\\nwhole-line-%d\\n" $i $i; done\n` +
    `output=log\n${extra}`
  );
}

/** Where a line of `halves` comes: 2N for line N's two halves, 2N+1 for the whole line after. */
function orderOf(line: string): number | undefined {
  const halves = /^piece (\d+) rest-of-line-(\d+)$/.exec(line);
  if (halves !== null) return halves[1] === halves[2] ? 2 * Number(halves[1]) : undefined;
  const whole = /^whole-line-(\d+)$/.exec(line);
  return whole === null ? undefined : 2 * Number(whole[1]) + 1;
}

describe('a manager killed (or upgraded) while a SIGUSR1 reopen waits for a line to end', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const go = mkdtempSync('/tmp/dm-reopen-crash-');
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

  before(async () => {
    chmodSync(go, 0o755);
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 0\nlog-keep = 99');
    host.writeDaemon('alice', 'plain', halves(go, 'plain', ''));
    host.writeDaemon('alice', 'stamped', halves(go, 'stamped', 'log_timestamps=yes\n'));
    // Rotated by size too: a whole line and the half of the next one do not fit.
    host.writeDaemon('alice', 'sized', halves(go, 'sized', 'log_max_size=20\nlog_keep=99\n'));
    await host.startManager();
  });
  after(async () => {
    await host.cleanup();
    rmSync(go, { recursive: true, force: true });
  });

  /**
   * Waits for the manager `pid` to be gone (a child of this test, or an upgrade's): reaped,
   * not only a zombie, whose other threads may still hold the state directory's lock.
   */
  const gone = (pid: number): Promise<true> =>
    waitFor(`the manager (pid ${pid}) to be reaped`, () =>
      existsSync(`/proc/${pid}`) ? undefined : true,
    );

  /** Waits for the manager to say `what` after `from` in its log. */
  const said = (from: number, what: RegExp): Promise<true> =>
    waitFor(
      `the manager to say ${what}`,
      () => (what.test(host.managerLog.slice(from)) ? true : undefined),
      {
        describe: () => host.managerLog.slice(from),
      },
    );

  /** A SIGUSR1, then the manager interrupted `way`, and a manager running again. */
  async function reopenAndInterrupt(way: (typeof WAYS)[number]): Promise<void> {
    const pid = host.managerPid();
    const from = host.managerLog.length;
    process.kill(pid, 'SIGUSR1');
    // Once the pump has acted on it: the wait for the line's end is under way.
    if (way !== 'killed at once') await said(from, /logs reopened, or waiting for a line to end/);
    if (way === 'upgraded') {
      process.kill(pid, 'SIGUSR2');
      await waitFor('the upgraded manager to say it runs', () => {
        const done = [
          ...host.managerLog.slice(from).matchAll(/upgrade done: .* as pid (\d+) now/g),
        ];
        const successor = done.at(-1)?.[1];
        return successor !== undefined && String(host.managerPid()) === successor
          ? true
          : undefined;
      });
      // The manager before it holds the state directory until it is gone.
      await gone(pid);
      return;
    }
    process.kill(pid, 'SIGKILL');
    await gone(pid);
    await host.startManager();
  }

  test('the line under way ends in the old file; every line whole, once, in order', async () => {
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      for (const name of DAEMONS)
        await waitFor(
          `${name}.log to end in the first half of line ${cycle}`,
          () => (read(logOf(name)).endsWith(`piece ${cycle} `) ? true : undefined),
          {
            describe: () =>
              `${JSON.stringify(read(logOf(name)).slice(-200))}; the manager said:\n${host.managerLog.slice(-3000)}`,
          },
        );
      // A logrotate's mv, then its SIGUSR1.
      for (const name of DAEMONS) renameSync(logOf(name), `${logOf(name)}.r${cycle}`);
      await reopenAndInterrupt(WAYS[(cycle - 1) % WAYS.length] ?? 'killed at once');
      for (const name of DAEMONS) writeFileSync(join(go, `${name}.${cycle}`), '');
    }
    for (const name of DAEMONS)
      await waitFor(`${name}.log to get the first half of line ${CYCLES + 1}`, () =>
        read(logOf(name)).endsWith(`piece ${CYCLES + 1} `) ? true : undefined,
      );

    const torn: string[] = [];
    const everyLine = new Map<string, number[]>();
    for (const name of DAEMONS) {
      const log = logOf(name);
      // The logrotate's NAME.log.rN, and the sized log's own rotations (NAME.log.N).
      const files = readdirSync(dirname(log))
        .filter((file) => file.startsWith(`${basename(log)}.`))
        .map((file) => join(dirname(log), file));
      if (name === 'sized') {
        const rotated = files.filter((file) => /\.log\.\d+$/.test(file)).length;
        assert.ok(rotated >= CYCLES, `sized.log rotated by size each cycle (${rotated} times)`);
      }
      const seen: number[] = [];
      for (const file of [...files, log]) {
        const lines = read(file).split('\n');
        const last = (lines.pop() ?? '').replace(STAMP, '');
        // Only the log written now ends in the first half of the line the daemon waits in.
        if (last !== (file === log ? `piece ${CYCLES + 1} ` : ''))
          torn.push(`${basename(file)} ends in ${JSON.stringify(last)}`);
        let previous = 0;
        for (const line of lines) {
          const body = name === 'stamped' ? line.replace(STAMP, '') : line;
          if (body.startsWith('--- ')) continue;
          const order = orderOf(body);
          if (order === undefined || order <= previous)
            torn.push(`${basename(file)}: ${JSON.stringify(line)}`);
          else seen.push(order);
          previous = order ?? previous;
        }
      }
      everyLine.set(name, seen);
    }
    assert.deepEqual(torn, [], 'no line split between two files, none out of order');
    // In order in each file; across them (the sized log's own rotations come between the
    // moves), every line once.
    for (const [name, seen] of everyLine)
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        Array.from({ length: 2 * CYCLES }, (_, index) => index + 2),
        `${name}: every line once`,
      );
  });
  test('the file the line began in is gone: the log says so, then the rest of the line', async () => {
    const next = CYCLES + 1;
    for (const name of DAEMONS) renameSync(logOf(name), `${logOf(name)}.gone`);
    await reopenAndInterrupt('killed once the pump acted on the signal');
    // Compressed and deleted by the logrotate (no delaycompress) before a manager came back.
    for (const name of DAEMONS) rmSync(`${logOf(name)}.gone`);
    for (const name of DAEMONS) writeFileSync(join(go, `${name}.${next}`), '');
    for (const name of DAEMONS) {
      await waitFor(`${name}.log to get the first half of line ${next + 1}`, () =>
        read(logOf(name)).endsWith(`piece ${next + 1} `) ? true : undefined,
      );
      // The sized log rotated since, between the lines: its last files one after the other.
      const files = name === 'sized' ? [3, 2, 1].map((index) => `${logOf(name)}.${index}`) : [];
      const lines = [...files, logOf(name)]
        .map(read)
        .join('')
        .split('\n')
        .map((line) => line.replace(STAMP, ''));
      const said = lines.findIndex((line) =>
        line.includes(`began in ${logOf(name)}.gone, which is gone; its rest follows`),
      );
      assert.notEqual(said, -1, `${name}.log says where the line began: ${lines}`);
      assert.deepEqual(lines.slice(said + 1), [
        `rest-of-line-${next}`,
        `whole-line-${next}`,
        `piece ${next + 1} `,
      ]);
    }
  });
  test('killed before the pump acted on the SIGUSR1, the file then compressed or deleted: the log says so, then the rest', async () => {
    // An outside review's logrotate: mv, SIGUSR1, kill -9 within milliseconds, gzip or
    // rm of the moved file, a new manager. No reopen waited in the record: only whether
    // the last byte written ended a line tells that the rest of one is coming. The last
    // cycle has no SIGUSR1 at all (killed before the logrotate sent it): the pump never
    // saw where the file went.
    const cycles = [
      { how: 'gzip', signal: true },
      { how: 'rm', signal: true },
      { how: 'rm-unsignalled', signal: false },
    ] as const;
    for (const [index, { how, signal }] of cycles.entries()) {
      const line = CYCLES + 2 + index;
      for (const name of DAEMONS)
        await waitFor(`${name}.log to end in the first half of line ${line}`, () =>
          read(logOf(name)).endsWith(`piece ${line} `) ? true : undefined,
        );
      for (const name of DAEMONS) renameSync(logOf(name), `${logOf(name)}.${how}`);
      const pid = host.managerPid();
      // Back to back: the SIGKILL lands before the manager's event loop has run its
      // SIGUSR1 handler, let alone the pump acted on it.
      if (signal) process.kill(pid, 'SIGUSR1');
      process.kill(pid, 'SIGKILL');
      await gone(pid);
      // gzip makes each .gz with the inode number of the log it compressed before: the
      // manager must not take one for the file its line began in.
      for (const name of DAEMONS) {
        const moved = `${logOf(name)}.${how}`;
        if (how === 'gzip') execFileSync('gzip', [moved]);
        else rmSync(moved);
      }
      await host.startManager();
      for (const name of DAEMONS) writeFileSync(join(go, `${name}.${line}`), '');
      for (const name of DAEMONS) {
        await waitFor(
          `${name}.log to get the first half of line ${line + 1}`,
          () => (read(logOf(name)).endsWith(`piece ${line + 1} `) ? true : undefined),
          { describe: () => `${JSON.stringify(read(logOf(name)).slice(-300))}` },
        );
        const files = name === 'sized' ? [3, 2, 1].map((at) => `${logOf(name)}.${at}`) : [];
        const lines = [...files, logOf(name)]
          .map(read)
          .join('')
          .split('\n')
          .map((text) => text.replace(STAMP, ''));
        // Named by the log's path when the pump never saw the file moved; by where it
        // was moved if the pump acted on the signal after all.
        const log = logOf(name).replaceAll('.', '\\.');
        const where = signal
          ? `(the file that was ${log}|${log}\\.${how})`
          : `the file that was ${log}`;
        const note = new RegExp(`began in ${where}, which is gone; its rest follows`);
        const said = lines.findLastIndex((text) => note.test(text));
        assert.notEqual(said, -1, `${name}.log says where line ${line} began: ${lines}`);
        assert.deepEqual(lines.slice(said + 1), [
          `rest-of-line-${line}`,
          `whole-line-${line}`,
          `piece ${line + 1} `,
        ]);
        // Nothing written into a .gz: it ends where the line began.
        if (how === 'gzip')
          assert.ok(
            execFileSync('zcat', [`${logOf(name)}.gzip.gz`], { encoding: 'utf8' }).endsWith(
              `piece ${line} `,
            ),
            `${name}.log.gzip.gz is the moved file as it was`,
          );
      }
    }
  });
});
