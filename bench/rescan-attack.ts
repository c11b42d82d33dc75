// One user's attack at the manager's socket, measured on the manager's side, for builds
// side by side, while another user asks `status` on its control socket from a small
// Python client (no Node start-up in the figure) and has its daemons killed with SIGKILL
// and respawned. Builds are run in turn, round after round, so that the load of a shared
// machine falls on each alike. Two attacks:
//   rescan (the default): the attacker rescans in a loop a directory of 1,000 configs of
//     250 KB (touched before each rescan) and 50,000 invalid `*.conf` names;
//   status: the attacker has 1,000 broken configs whose problems quote long escaped
//     Unicode, and asks `status` from --flood clients at once (64 by default), each in a
//     loop.
//
//   node bench/rescan-attack.ts --tree DIR=LABEL [--tree DIR=LABEL] [--rounds 3] [--seconds 30]
//                               [--attack rescan|status] [--flood 64]
//
// Each DIR is a built tree (bin/, dist/, build/Release/, node_modules/node). Prints one
// JSON object per run and a summary; with --out FILE, saves them all.
import { execFileSync } from 'node:child_process';
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { TestHost, type TestUser } from '../test/helpers/host.ts';
import { askAtSocket, type ClientRun } from './measures/control-client.ts';
import { sleep } from './measures/proc.ts';
import { ReadyPipe } from './measures/ready-pipe.ts';
import { spawnLogged, terminate } from './peers/spawn.ts';
import { describeMachine } from './report/machine.ts';
import { type RescanRun, summarize } from './report/rescan-markdown.ts';
import { median, percentile } from './report/stats.ts';
import { lendPipe } from './scenarios/attacker.ts';
import { type AttackSizes, writeAttackerFiles } from './scenarios/attacker-files.ts';
import { fleetScript } from './scenarios/workdir.ts';

const SIZES: AttackSizes = {
  stuck: 0,
  children: 0,
  configs: 1000,
  configKb: 250,
  badNames: 50_000,
};
/** The status flood's broken configs: each an unknown key of 300 escaped characters. */
const BROKEN_CONFIGS = 1000;
const VICTIM_DAEMONS = 5;
/** The attack runs this long before the victim measures, and on to the phase's end. */
const LEAD_S = 2;
const RESPAWNS = 4;

interface Phase {
  readonly status: ClientRun;
  readonly respawnMs: (number | null)[];
}

interface Run {
  readonly label: string;
  readonly round: number;
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  readonly idle: Phase;
  readonly attack: Phase;
  /** The attacker's requests: its rescans, or its status requests from every client. */
  readonly rescans: ClientRun;
}

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    out: { type: 'string' },
    'keep-logs': { type: 'string' },
    attack: { type: 'string' },
    flood: { type: 'string' },
  },
});
const attackKind = values.attack ?? 'rescan';
if (attackKind !== 'rescan' && attackKind !== 'status')
  throw new Error(`--attack is rescan or status, not ${attackKind}`);
const flood = Number(values.flood ?? 64);
const trees = (values.tree ?? []).map((spec) => {
  const [dir = '', label = dir] = spec.split('=');
  return { dir: resolve(dir), label };
});
const rounds = Number(values.rounds ?? 3);
const seconds = Number(values.seconds ?? 30);

/** Runs the control client as `user` for `seconds` (the run's length by default). */
function askLoop(
  user: TestUser,
  socket: string,
  command: string,
  touch?: string,
  duration = seconds,
): Promise<ClientRun> {
  return askAtSocket(user, socket, command, duration, touch);
}

/** The broken configs of the status flood, owned by the attacker. */
function writeBrokenConfigs(attacker: TestUser, daemons: string): void {
  mkdirSync(daemons, { recursive: true });
  chownSync(daemons, attacker.uid, attacker.gid);
  const text = `${'\u202e\u00e9'.repeat(150)}=1\n`;
  for (let index = 0; index < BROKEN_CONFIGS; index++) {
    const file = join(daemons, `broken${String(index).padStart(4, '0')}.conf`);
    writeFileSync(file, text, { mode: 0o644 });
    chownSync(file, attacker.uid, attacker.gid);
  }
}

/** The flood's clients as one loop: every call, the failures and the largest reply. */
function merged(loops: ClientRun[]): ClientRun {
  return {
    ms: loops.flatMap((loop) => loop.ms),
    okMs: loops.flatMap((loop) => loop.okMs ?? []),
    failures: loops.reduce((sum, loop) => sum + loop.failures, 0),
    errors: [...new Set(loops.flatMap((loop) => loop.errors))].slice(0, 5),
    largestReply: Math.max(...loops.map((loop) => loop.largestReply)),
  };
}

/** kill -9 of a victim's daemon to its replacement's ready line, RESPAWNS times spread out. */
async function respawns(pipe: ReadyPipe): Promise<(number | null)[]> {
  const results: (number | null)[] = [];
  const gap = (seconds * 1000) / (RESPAWNS + 1);
  for (let index = 0; index < RESPAWNS; index++) {
    await sleep(gap);
    const name = `v${index % VICTIM_DAEMONS}`;
    const old = pipe.last(name);
    if (!old) {
      results.push(null);
      continue;
    }
    const replaced = pipe.next(
      (line) => line.word === 'ready' && line.name === name && line.pid !== old.pid,
      `${name} respawned`,
      60_000,
    );
    const at = performance.now();
    process.kill(old.pid, 'SIGKILL');
    results.push(await replaced.then((line) => Math.round(line.at - at)).catch(() => null));
  }
  return results;
}

async function measure(user: TestUser, socket: string, pipe: ReadyPipe): Promise<Phase> {
  const [status, respawnMs] = await Promise.all([askLoop(user, socket, 'status'), respawns(pipe)]);
  return { status, respawnMs };
}

async function runOnce(tree: { dir: string; label: string }, round: number): Promise<Run> {
  const host = new TestHost();
  const pipe = new ReadyPipe(join(host.dir, 'ready.fifo'));
  let manager: ReturnType<typeof spawnLogged> | undefined;
  try {
    const attacker = host.user('atk');
    const victim = host.user('vic');
    host.writeMaster('[can_run_as]\n{atk}\n{vic}\n', 'stable-uptime = 1s');
    lendPipe(pipe, victim);
    const script = join(host.dir, 'victim.sh');
    writeFileSync(script, `#!/bin/sh\n${fleetScript(pipe.path)}`, { mode: 0o755 });
    for (let index = 0; index < VICTIM_DAEMONS; index++)
      host.writeDaemon('vic', `v${index}`, `start=exec ${script} v${index}\n`);
    const daemons = join(attacker.home, '.daemon-manager/daemons');
    // The rescan attack's files are written aside first and moved in later, in a moment;
    // the status flood's broken configs are there from the start (the idle phase is then
    // the flood's only difference).
    const staging = join(attacker.home, 'staging');
    if (attackKind === 'rescan')
      writeAttackerFiles({ uid: attacker.uid, gid: attacker.gid, daemonDir: staging }, SIZES);
    else writeBrokenConfigs(attacker, daemons);
    manager = spawnLogged(
      [join(tree.dir, 'bin/daemon-manager'), '--config', host.configFile, '--foreground'],
      join(host.dir, 'manager.log'),
    );
    await pipe.readyTotal(VICTIM_DAEMONS, "the victim's daemons", 60_000);
    const loadBefore = loadavg();
    const victimSocket = join(host.dir, 'run', `${victim.name}.sock`);
    const attackerSocket = join(host.dir, 'run', `${attacker.name}.sock`);
    // The sockets are made once every user's files are loaded (1,000 broken ones of the
    // flood's attacker), after the victim's daemons said they run.
    for (const socket of [victimSocket, attackerSocket])
      while (!existsSync(socket)) await sleep(50);
    const idle = await measure(victim, victimSocket, pipe);
    let attacking: Promise<ClientRun>;
    if (attackKind === 'rescan') {
      mkdirSync(daemons, { recursive: true });
      chownSync(daemons, attacker.uid, attacker.gid);
      for (const name of readdirSync(staging)) renameSync(join(staging, name), join(daemons, name));
      attacking = askLoop(attacker, attackerSocket, 'rescan', daemons, seconds + LEAD_S);
    } else {
      const clients = Array.from({ length: flood }, () =>
        askLoop(attacker, attackerSocket, 'status', undefined, seconds + LEAD_S),
      );
      attacking = Promise.all(clients).then(merged);
    }
    await sleep(LEAD_S * 1000);
    const attack = await measure(victim, victimSocket, pipe);
    const rescans = await attacking;
    return { label: tree.label, round, loadBefore, loadAfter: loadavg(), idle, attack, rescans };
  } finally {
    if (manager) await terminate(manager, 60_000);
    pipe.close();
    const keep = values['keep-logs'];
    if (keep !== undefined)
      cpSync(join(host.dir, 'manager.log'), join(keep, `${tree.label}-${round}.log`));
    await host.cleanup();
  }
}

function summary(run: Run): string {
  const figures = (phase: Phase): string => {
    const ms = phase.status.ms;
    return `status n=${ms.length} p50 ${percentile(ms, 50)} p99 ${percentile(ms, 99)} max ${Math.max(...ms)} fail ${phase.status.failures}; respawn ${phase.respawnMs.join(',')}`;
  };
  return [
    `${run.label} round ${run.round} load ${run.loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
    `  idle:   ${figures(run.idle)}`,
    `  attack: ${figures(run.attack)}`,
    `  ${attackKind === 'rescan' ? 'rescans' : 'attacker status'} n=${run.rescans.ms.length} median ${median(run.rescans.ms)} ms reply ${run.rescans.largestReply} B; status reply ${run.attack.status.largestReply} B; fail ${run.rescans.failures} ${run.rescans.errors[0] ?? ''}`,
  ].join('\n');
}

/** A run as saved: each loop's figures, not its tens of thousands of calls. */
function saved(run: Run): RescanRun {
  const phase = (of: Phase) => ({ status: summarize(of.status), respawnMs: of.respawnMs });
  return {
    ...run,
    idle: phase(run.idle),
    attack: phase(run.attack),
    rescans: summarize(run.rescans),
  };
}

const runs: Run[] = [];
for (let round = 1; round <= rounds; round++) {
  // Alternate which build goes first, so neither always follows the other's clean-up.
  const order = round % 2 === 1 ? trees : [...trees].reverse();
  for (const tree of order) {
    const run = await runOnce(tree, round);
    runs.push(run);
    process.stderr.write(`${summary(run)}\n`);
  }
}
const commitOf = (dir: string): string => {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'a snapshot, not a checkout';
  }
};
if (values.out !== undefined) {
  mkdirSync(resolve(values.out, '..'), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: describeMachine(),
        builds: trees.map((tree) => ({ label: tree.label, commit: commitOf(tree.dir) })),
        seconds,
        attack: attackKind,
        ...(attackKind === 'status' ? { flood, brokenConfigs: BROKEN_CONFIGS } : { sizes: SIZES }),
        runs: runs.map(saved),
      },
      null,
      1,
    )}\n`,
  );
}
