// The native log pump's cost: bytes moved per CPU-second of the process running it.
// Runs test/fixtures/pump-child.ts on one FIFO fed 200 MB by awk, in both modes (splice;
// timestamps, which copy), and takes the child's user+system CPU (process.cpuUsage, all
// its threads) between attaching and the end of the pipe. Usage: node bench/scenarios/pump.ts [MB]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { numberedFeed } from '../../test/helpers/pipes.ts';

const CHILD = resolve(import.meta.dirname, '../../test/fixtures/pump-child.ts');
async function measure(
  dir: string,
  mode: 'plain' | 'timestamps',
  megabytes: number,
): Promise<void> {
  const lines = megabytes * 10_000;
  const feed = numberedFeed(dir, mode, lines);
  const log = join(dir, `${mode}.log`);
  const child = spawn(process.execPath, [CHILD, feed.path, log, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The child says its own CPU (all its threads) when attached and at the end of the pipe.
  const said = await new Promise<string>((done) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (/eof \d+/.test(text)) done(text);
    });
    child.once('exit', () => done(text));
  });
  await new Promise((exited) => child.once('exit', exited));
  const micros = (word: string): number =>
    Number(new RegExp(`${word} (\\d+)`).exec(said)?.[1] ?? Number.NaN);
  const cpu = (micros('eof') - micros('attached')) / 1e6;
  const bytes = statSync(log).size;
  console.log(
    `${mode.padEnd(10)} ${(bytes / 1e6).toFixed(0)} MB moved, ${cpu.toFixed(2)} CPU-s, ${(bytes / 1e6 / cpu).toFixed(0)} MB per CPU-second`,
  );
  await feed.writer.stop();
}

const megabytes = Number(process.argv[2] ?? 200);
const dir = mkdtempSync('/tmp/dm-bench-pump-');
try {
  for (const mode of ['plain', 'timestamps'] as const) await measure(dir, mode, megabytes);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
