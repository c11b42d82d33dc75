// `node bench/cpu-share-cost.ts [--daemons 200] [--rounds 3]`, as root, after `npm run build`:
// what `cpu-fair-share = yes` (the default) costs a daemon's start. With it, the keeper's
// child joins its user's v1 cpu cgroup before exec, a migration that waits for an RCU grace
// period; without it, no v1 cgroup is joined at all. Each round starts a manager with N
// daemons of one real user (`useradd` under a random prefix, removed after) for each
// setting, and times: all N started (ready line of each, from the manager's start); 10
// single respawns, one at a time (kill -9 to the replacement's ready line); and a burst of
// N respawns (every daemon killed at once, to the last ready line). Prints the figures as
// JSON; bench/results/notes/ says what they were. Hold `flock /tmp/dm-bench.lock`.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { TestHost } from '../test/helpers/host.ts';
import { v1CgroupOf } from '../test/helpers/proc.ts';
import { ReadyPipe } from './measures/ready-pipe.ts';
import { lendPipe } from './scenarios/attacker.ts';
import { fleetScript } from './scenarios/workdir.ts';

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
  },
});
const DAEMONS = Number(values.daemons);
const ROUNDS = Number(values.rounds);
const SINGLES = 10;
const TIMEOUT_MS = 120_000;

interface Round {
  readonly fairShare: boolean;
  readonly cpuCgroup: string;
  readonly startAllMs: number;
  readonly singleMs: readonly number[];
  readonly burstMs: number;
  readonly load: readonly number[];
}

async function round(fairShare: boolean): Promise<Round> {
  const host = new TestHost();
  const pipe = new ReadyPipe(join(host.dir, 'ready.fifo'));
  try {
    const user = host.user('cst');
    lendPipe(pipe, user);
    const script = join(host.dir, 'daemon.sh');
    writeFileSync(script, `#!/bin/sh\n${fleetScript(pipe.path)}`, { mode: 0o755 });
    const names = Array.from({ length: DAEMONS }, (_, index) => `d${index}`);
    for (const name of names) host.writeDaemon('cst', name, `start=exec ${script} ${name}\n`);
    // stable-uptime = 1s: a daemon killed after a second is respawned at once, no back-off.
    host.writeMaster(
      '[can_run_as]\n{cst}\n',
      `stable-uptime = 1s\ncpu-fair-share = ${fairShare ? 'yes' : 'no'}`,
    );
    const began = performance.now();
    await host.startManager();
    const startAllMs = (await pipe.readyTotal(DAEMONS, 'every daemon', TIMEOUT_MS)) - began;
    const first = pipe.last(names[0] ?? '');
    const cpuCgroup = first ? v1CgroupOf(first.pid, 'cpu') : '';
    await delay(1_500);
    const singleMs: number[] = [];
    for (const name of names.slice(0, SINGLES)) {
      const old = pipe.last(name);
      if (!old) throw new Error(`no ready line of ${name}`);
      const replaced = pipe.next(
        (line) => line.word === 'ready' && line.name === name && line.pid !== old.pid,
        `${name} to be respawned`,
        TIMEOUT_MS,
      );
      const killedAt = performance.now();
      process.kill(old.pid, 'SIGKILL');
      singleMs.push((await replaced).at - killedAt);
      await delay(300);
    }
    await delay(1_500);
    const before = pipe.readyCount;
    const killedAt = performance.now();
    for (const name of names) {
      const pid = pipe.last(name)?.pid;
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    }
    const burstMs = (await pipe.readyTotal(before + DAEMONS, 'the burst', TIMEOUT_MS)) - killedAt;
    return { fairShare, cpuCgroup, startAllMs, singleMs, burstMs, load: loadavg() };
  } finally {
    pipe.close();
    await host.cleanup();
  }
}

const median = (list: readonly number[]): number => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const rounds: Round[] = [];
// Alternated, so that a change of the machine's load spreads over both settings.
for (let index = 0; index < ROUNDS; index++)
  for (const fairShare of [false, true]) {
    const done = await round(fairShare);
    rounds.push(done);
    process.stderr.write(
      `fair share ${fairShare ? 'yes' : 'no '}: ${DAEMONS} started in ${done.startAllMs.toFixed(0)} ms; single respawns median ${median(done.singleMs).toFixed(1)} ms, max ${Math.max(...done.singleMs).toFixed(1)}; burst of ${DAEMONS} in ${done.burstMs.toFixed(0)} ms; cpu cgroup ${done.cpuCgroup}; load ${done.load.map((x) => x.toFixed(1)).join(' ')}\n`,
    );
  }
process.stdout.write(`${JSON.stringify({ daemons: DAEMONS, rounds }, null, 2)}\n`);
