import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { type Spawned, spawnCollecting } from './cli.ts';

/** The line numbered `n` of a numbered writer: its number, then padding to `width` bytes. */
export function numberedLine(n: number, width = 100): string {
  const head = `line ${n} `;
  return `${head}${'x'.repeat(Math.max(0, width - head.length - 1))}\n`;
}

/** The text `count` numbered lines make. */
export function numberedText(count: number, width = 100): string {
  const parts: string[] = [];
  for (let n = 1; n <= count; n++) parts.push(numberedLine(n, width));
  return parts.join('');
}

/**
 * A FIFO with a real writer process writing `count` numbered lines into it. The read end
 * is opened first (nonblocking), and a write end is held until `release()` so that the
 * pipe does not look ended before the writer has opened it.
 */
export interface Feed {
  readonly path: string;
  readonly readFd: number;
  readonly writer: Spawned;
  /** Lets the pipe end (done by itself when the writer exits). */
  release(): void;
}

export function numberedFeed(dir: string, name: string, count: number, width = 100): Feed {
  const path = join(dir, `${name}.fifo`);
  execFileSync('mkfifo', [path]);
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let holdFd: number | undefined = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const pad = 'x'.repeat(width);
  const writer = spawnCollecting([
    'sh',
    '-c',
    `exec awk 'BEGIN { for (i = 1; i <= ${count}; i++) { h = "line " i " "; printf "%s%s\\n", h, substr("${pad}", 1, ${width} - length(h) - 1) } }' > ${path}`,
  ]);
  const release = (): void => {
    if (holdFd !== undefined) closeSync(holdFd);
    holdFd = undefined;
  };
  // Once the writer is gone, the pipe may end.
  writer.child.once('exit', release);
  return { path, readFd, writer, release };
}
