import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { timeCommand } from '../measures/command-latency.ts';
import { type CpuUse, cpuBetween, sampleCpu } from '../measures/cpu.ts';
import { type Memory, memoryOf } from '../measures/memory.ts';
import { sleep } from '../measures/proc.ts';
import { NODE } from '../peers/daemon-manager.ts';
import { exited } from '../peers/spawn.ts';
import { makeWorkdir } from './workdir.ts';

/** A bare Node 24 process listening on a unix socket: the floor for a Node supervisor. */
export interface BaselineRun {
  readonly memory: Memory;
  readonly idle: CpuUse;
}

const SERVER = `require('node:net').createServer((s) => s.end()).listen(process.argv[1]);`;

export async function runBaseline(
  root: string,
  settleMs: number,
  idleMs: number,
): Promise<BaselineRun> {
  const work = makeWorkdir(root, 'node-baseline');
  const socket = join(work.dir, 'baseline.sock');
  const child = spawn(NODE, ['-e', SERVER, socket], { stdio: 'ignore' });
  try {
    const pid = child.pid ?? 0;
    for (let i = 0; i < 200 && !existsSync(socket); i++) await sleep(10);
    await sleep(settleMs);
    const before = sampleCpu([pid]);
    await sleep(idleMs);
    const idle = cpuBetween(before, sampleCpu([pid]));
    return { memory: memoryOf([pid]), idle };
  } finally {
    child.kill('SIGKILL');
    await exited(child);
    work.remove();
  }
}

/** The floor of any Node CLI: `node -e 0` with the same binary as dmctl. */
export function nodeFloorMs(repeats: number): number[] {
  return Array.from({ length: repeats }, () => timeCommand([NODE, '-e', '0']).ms);
}

const LINE_SERVER = `require('node:net').createServer((s) => s.end('ok\\n')).listen(process.argv[1]);`;
const LINE_CLIENT = [
  `const s = require('node:net').connect(process.argv[1]);`,
  `let got = '';`,
  `s.setEncoding('latin1').on('data', (d) => { got += d; if (got.includes('\\n')) process.exit(0); });`,
  `s.on('error', () => process.exit(1));`,
].join(' ');

/**
 * The floor of a Node client of a supervisor: a Node process that connects to a unix
 * socket, reads one line and exits (the server, another Node process, answers at once).
 * What a `dmctl status` costs beyond this is dmctl's own work and the manager's answer.
 */
export async function nodeClientFloorMs(root: string, repeats: number): Promise<number[]> {
  const work = makeWorkdir(root, 'node-client-floor');
  const socket = join(work.dir, 'line.sock');
  const server = spawn(NODE, ['-e', LINE_SERVER, socket], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 500 && !existsSync(socket); i++) await sleep(10);
    return Array.from({ length: repeats }, () => {
      const run = timeCommand([NODE, '-e', LINE_CLIENT, socket]);
      if (run.status !== 0) throw new Error('the Node client of the floor could not read its line');
      return run.ms;
    });
  } finally {
    server.kill('SIGKILL');
    await exited(server);
    work.remove();
  }
}
