import { execFileSync } from 'node:child_process';
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuBetween, sampleCpu } from '../measures/cpu.ts';
import { memoryOf, peakRssOf, resetPeakRss } from '../measures/memory.ts';
import { killSurvivors, sleep, waitUntilDead } from '../measures/proc.ts';
import type { Peer, Running } from '../peers/peer.ts';
import { onInterrupt } from './interrupt.ts';
import { makeWorkdir } from './workdir.ts';

/** What one log run measured. */
export interface LogRun {
  readonly mbPerS: number;
  readonly linesLost: number;
  /** Lines that reached the file only when the supervisor was stopped (held back until then). */
  readonly linesLate: number;
  /** The supervisor's RSS just before the stream, and its peak during it (KiB). */
  readonly rssBeforeKb: number;
  readonly peakRssKb: number;
  /** CPU time of the supervisor's processes from the go to the end of the stream (schedstat). */
  readonly cpuMs: number;
  readonly leftovers: number;
}

/** 100 bytes with its newline: 2,000,000 of them make 200 MB. */
const LINE = `bench-log-line ${'0123456789'.repeat(9)}`.slice(0, 99);
const STALL_MS = 5_000;

/**
 * One daemon writes `lines` lines as fast as `yes | head` can through the supervisor's
 * log capture. It waits on a second FIFO (`go`) before writing, so that the bench can
 * reset the supervisor's peak RSS first. The stream is over when the log file has
 * stopped growing; MB/s counts from the go to the last growth seen (polled every 5 ms).
 */
export async function runLogThroughput(peer: Peer, root: string, lines: number): Promise<LogRun> {
  const work = makeWorkdir(root, `${peer.name}-log`);
  const go = join(work.dir, 'go.fifo');
  execFileSync('mkfifo', ['-m', '0600', go]);
  const script = work.script(
    'chatty.sh',
    [
      `echo "ready $1 $$" > ${work.pipe.path}`,
      `read _ < ${go}`,
      `yes '${LINE}' | head -n ${lines}`,
      `echo "done $1 $$" > ${work.pipe.path}`,
      'exec sleep 100000',
      '',
    ].join('\n'),
  );
  const start = peer.configure(work.dir, [{ name: 'chatty', script, capture: true }]);
  let running: Running | undefined;
  const forget = onInterrupt(async () => {
    await running?.stop();
    killSurvivors([work.pipe.last('chatty')?.pid ?? 0].filter((pid) => pid !== 0));
  });
  try {
    running = start();
    await work.pipe.readyTotal(1, 'the chatty daemon', 120_000);
    const pids = running.supervisorPids();
    const rssBeforeKb = memoryOf(pids).rssKb;
    resetPeakRss(pids);
    const file = running.logFileOf('chatty');
    const payload = lines * (LINE.length + 1);
    const cpuBefore = sampleCpu(pids);
    const goAt = performance.now();
    // The daemon is blocked opening the FIFO for reading, so this open does not block.
    writeFileSync(go, 'go\n');
    const lastGrowth = await waitForLogToSettle(file, payload);
    const cpuMs = cpuBetween(cpuBefore, sampleCpu(pids)).schedMs;
    const peakRssKb = peakRssOf(running.supervisorPids());
    const mbPerS = payload / 1e6 / ((lastGrowth - goAt) / 1000);
    const settled = await countLines(file, LINE);
    // Counted again once the supervisor is gone: what it held back is not lost, only late.
    const leftovers = await running.stop();
    const daemon = work.pipe.last('chatty')?.pid ?? 0;
    const left = killSurvivors(await waitUntilDead([daemon], 10_000));
    const final = await countLines(file, LINE);
    return {
      mbPerS,
      linesLost: lines - final,
      linesLate: final - settled,
      rssBeforeKb,
      peakRssKb,
      cpuMs,
      leftovers: leftovers.length + left.length,
    };
  } catch (error) {
    if (running) await running.stop().catch(() => []);
    throw error;
  } finally {
    forget();
    killSurvivors([work.pipe.last('chatty')?.pid ?? 0].filter((pid) => pid !== 0));
    work.remove();
  }
}

/** Polls the log's size; returns when it last grew, once it holds the payload and is still. */
async function waitForLogToSettle(file: string, payload: number): Promise<number> {
  let size = -1;
  let lastGrowth = performance.now();
  for (;;) {
    await sleep(5);
    let now: number;
    try {
      now = statSync(file).size;
    } catch {
      now = 0;
    }
    const at = performance.now();
    if (now !== size) {
      size = now;
      lastGrowth = at;
    }
    const still = at - lastGrowth;
    if ((size >= payload && still >= 300) || still >= STALL_MS) return lastGrowth;
  }
}

/** Counts the lines that end with the payload line (a supervisor may prefix a timestamp). */
async function countLines(file: string, line: string): Promise<number> {
  let count = 0;
  let carry = '';
  try {
    for await (const chunk of createReadStream(file, { encoding: 'latin1' })) {
      const parts = (carry + (chunk as string)).split('\n');
      carry = parts.pop() ?? '';
      for (const part of parts) if (part.endsWith(line)) count++;
    }
  } catch {
    return 0;
  }
  if (carry.endsWith(line)) count++;
  return count;
}
