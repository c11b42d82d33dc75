import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { LogChunk, Request, Response } from '../protocol/messages.ts';

/** Asks the manager for a piece of a log. */
export type ReadChunk = (offset: number) => Promise<LogChunk | { error: string }>;

/** Builds a ReadChunk on top of a request function. */
export function chunkReader(call: (request: Request) => Promise<Response>, id: string): ReadChunk {
  return async (offset) => {
    const response = await call({ command: 'read-log', id, offset });
    if (!response.ok) return { error: response.error };
    return response.log ?? { error: 'the manager sent no log' };
  };
}

/**
 * Shows a log the caller may not open but may read through the manager (a help-desk
 * user of [manages]): the whole log, into the pager on a terminal, else to stdout.
 */
export async function pageRemoteLog(read: ReadChunk): Promise<number> {
  const pager = process.stdout.isTTY
    ? spawn('/bin/sh', ['-c', process.env.PAGER || 'less || more'], {
        stdio: ['pipe', 'inherit', 'inherit'],
      })
    : undefined;
  const out = pager?.stdin ?? process.stdout;
  out.on('error', () => {}); // The pager quit early: nothing more to show.
  for (let offset = 0; ; ) {
    const chunk = await read(offset);
    if ('error' in chunk) return fail(chunk.error);
    if (chunk.data !== '') out.write(Buffer.from(chunk.data, 'base64'));
    if (chunk.next >= chunk.size || chunk.next === offset) break;
    offset = chunk.next;
  }
  if (!pager) return 0;
  pager.stdin?.end();
  return new Promise((resolve) => pager.on('close', (code) => resolve(code ?? 0)));
}

/** Follows a log through the manager, like `tail -F`: the last lines, then what is added. */
export async function followRemoteLog(read: ReadChunk, pollMs = 500): Promise<number> {
  let offset = -8192;
  for (;;) {
    const chunk = await read(offset);
    if ('error' in chunk) return fail(chunk.error);
    if (chunk.data !== '') process.stdout.write(Buffer.from(chunk.data, 'base64'));
    // A file smaller than where we were was rotated: the manager restarts from its top.
    if (chunk.next >= chunk.size) await delay(pollMs);
    offset = chunk.next;
  }
}

function fail(message: string): number {
  process.stderr.write(`dmctl: ${message}\n`);
  return 1;
}
