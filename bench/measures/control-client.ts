import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { ClientLoop } from '../report/rescan-markdown.ts';

const CLIENT = resolve(import.meta.dirname, 'control-client.py');

export type ClientRun = ClientLoop & { readonly largestReply: number };

/** Who asks: the manager tells callers apart by the uid of their socket (SO_PEERCRED). */
export interface Asker {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Asks `command` on a control socket in a loop for `seconds`, as `user`, from the small
 * Python client (no Node start-up in the figure: the manager's side of a call); `touch`
 * gives the files named `big*` in that directory a new time before each call.
 */
export function askAtSocket(
  user: Asker,
  socket: string,
  command: string,
  seconds: number,
  touch?: string,
): Promise<ClientRun> {
  const args = [
    CLIENT,
    socket,
    command,
    String(seconds),
    ...(touch ? ['--touch', touch, 'big'] : []),
  ];
  return new Promise((done, fail) => {
    const child = spawn('/usr/bin/python3', args, {
      uid: user.uid,
      gid: user.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('close', (code) => {
      if (code !== 0) return fail(new Error(`control client exited ${code}: ${err.slice(0, 500)}`));
      done(JSON.parse(out) as ClientRun);
    });
  });
}
