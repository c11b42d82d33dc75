/**
 * Soak test of the manager; not part of `npm test`. As root, after `npm run build`:
 *
 *   node_modules/.bin/node bench/soak.ts
 *
 * 1,000 daemons of 20 real users (one in five with output=log). For five minutes, 1,000
 * kill -9 a second (in ten bursts of 100: the rate the reliability issue requires the
 * manager to hold) while waves of 100 dmctl clients run at once. Back-off is set low
 * (`stable-uptime = 100ms`, `cooldown-step = 100ms`, `cooldown-max = 1s`) so that it
 * does not throttle the respawns: each daemon runs about a second between kills.
 * Then it waits for every daemon to run again and checks: every dmctl call answered, no
 * daemon lost or doubled, no descriptor or zombie left in the manager; and prints the
 * figures (memory, CPU, latencies) as Markdown for bench/SOAK.md. Exits 1 if a check
 * failed. Sizes can be changed with SOAK_DAEMONS, SOAK_USERS, SOAK_SECONDS, SOAK_KILLS
 * (per second) and SOAK_CLIENTS (per wave). It loads a 2-core machine for a few minutes.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import {
  openDescriptors,
  processTable,
  residentKiB,
  zombieChildrenOf,
} from '../test/helpers/census.ts';
import { type Spawned, spawnCollecting } from '../test/helpers/cli.ts';
import { type CommandResult, DAEMON_MANAGER, TestHost } from '../test/helpers/host.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { managerProcesses } from './measures/process-sample.ts';

const size = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const DAEMONS = size('SOAK_DAEMONS', 1000);
const USERS = size('SOAK_USERS', 20);
const SECONDS = size('SOAK_SECONDS', 300);
const KILLS = size('SOAK_KILLS', 1000);
/** Kills come in this many bursts a second, not all at once. */
const BURSTS = 10;
const CLIENTS = size('SOAK_CLIENTS', 100);
const SETTLE_MS = 180_000;

// Each daemon runs `sleep N` with an N of its own, so /proc tells which daemon a process is.
const BASE = 4_000_000 + randomInt(1_000_000) * 10_000;
const commandOf = (index: number): string => `sleep ${BASE + index}`;

interface Call {
  readonly ok: boolean;
  readonly ms: number;
  readonly error: string;
}

interface Sample {
  readonly fds: number;
  readonly zombies: number;
  readonly rssKiB: number;
  readonly cpuSeconds: number;
}

/** The manager and its dm-keeper (which forks and reaps the daemons), summed. */
function sample(pid: number): Sample {
  let total: Sample = { fds: 0, zombies: 0, rssKiB: 0, cpuSeconds: 0 };
  for (const one of managerProcesses(pid)) {
    const stat = readFileSync(`/proc/${one}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    total = {
      fds: total.fds + openDescriptors(one),
      zombies: total.zombies + zombieChildrenOf(one).length,
      rssKiB: total.rssKiB + residentKiB(one),
      cpuSeconds: total.cpuSeconds + ticks / 100,
    };
  }
  return total;
}

/** Live main processes of the daemons, by daemon index (several if a daemon runs twice). */
function census(): Map<number, number[]> {
  const byIndex = new Map<number, number[]>();
  for (const entry of processTable()) {
    if (entry.state === 'Z' || !entry.command.startsWith('sleep ')) continue;
    const index = Number(entry.command.slice('sleep '.length)) - BASE;
    if (!Number.isInteger(index) || index < 0 || index >= DAEMONS) continue;
    byIndex.set(index, [...(byIndex.get(index) ?? []), entry.pid]);
  }
  return byIndex;
}

/** Waits until every daemon runs exactly once and status says so; returns how long it took. */
async function settle(host: TestHost, what: string): Promise<number> {
  const started = Date.now();
  let last = '';
  await waitFor(
    what,
    async () => {
      const copies = census();
      const missing = DAEMONS - copies.size;
      const doubled = [...copies.values()].filter((pids) => pids.length > 1).length;
      const rows = await host.status('root');
      const running = rows.filter((row) => row.state === 'running').length;
      last = `${copies.size} daemons have a process, ${missing} none, ${doubled} two or more; status: ${running} of ${rows.length} running`;
      return missing === 0 && doubled === 0 && running === DAEMONS ? true : undefined;
    },
    { timeoutMs: SETTLE_MS, describe: () => last },
  );
  return Date.now() - started;
}

/** Runs `count` dmctl calls at once, as the users in turn and one in ten as root. */
async function wave(host: TestHost, users: readonly string[], count: number): Promise<Call[]> {
  const calls = Array.from({ length: count }, async (_, index): Promise<Call> => {
    const started = Date.now();
    let result: CommandResult;
    if (index % 10 === 0) result = await host.dmctl('root', '--json', 'status');
    else result = await host.dmctl(users[index % users.length] ?? 'u0', 'status');
    const ok = result.code === 0 && result.stdout.length > 0;
    return { ok, ms: Date.now() - started, error: ok ? '' : result.stderr.trim() };
  });
  return Promise.all(calls);
}

/**
 * Kills `KILLS` random running daemons a second, in BURSTS bursts, for `SECONDS`;
 * returns how many. `onTick` runs once a second.
 */
async function crashStorm(onTick: () => void): Promise<number> {
  let killed = 0;
  const started = Date.now();
  for (let burst = 0; burst < SECONDS * BURSTS; burst++) {
    const running = [...census().values()].flat();
    for (let n = 0; n < KILLS / BURSTS && running.length > 0; n++) {
      const [pid] = running.splice(randomInt(running.length), 1);
      try {
        process.kill(pid ?? 0, 'SIGKILL');
        killed++;
      } catch {
        // Ended meanwhile.
      }
    }
    if ((burst + 1) % BURSTS === 0) onTick();
    const next = started + ((burst + 1) * 1000) / BURSTS;
    await delay(Math.max(0, next - Date.now()));
  }
  return killed;
}

function uidOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
  } catch {
    return -1;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('soak: run as root (it creates users and a system manager)\n');
    return 2;
  }
  const host = new TestHost();
  const users = Array.from({ length: USERS }, (_, index) => `u${index}`);
  let manager: Spawned | undefined;
  const problems: string[] = [];
  try {
    host.writeMaster(
      `[can_run_as]\n${users.map((user) => `{${user}}\n`).join('')}`,
      'stable-uptime = 100ms\ncooldown-step = 100ms\ncooldown-max = 1s\nlog-max-size = 1M\nlog-keep = 2',
    );
    for (let index = 0; index < DAEMONS; index++) {
      const start =
        index % 5 === 0
          ? `start=echo started $$; exec ${commandOf(index)}\noutput=log\n`
          : `start=exec ${commandOf(index)}\n`;
      host.writeDaemon(users[index % USERS] ?? 'u0', `d${index}`, start);
    }
    process.stdout.write(`soak: ${USERS} users, ${DAEMONS} daemons; starting the manager\n`);
    const launched = Date.now();
    manager = spawnCollecting([DAEMON_MANAGER, '--config', host.configFile, '--foreground']);
    const running = manager;
    await waitFor(
      'the manager to say it runs',
      () => (/ running, pid /.test(running.output()) ? true : undefined),
      { timeoutMs: SETTLE_MS, describe: () => running.output().slice(-2000) },
    );
    const pid = manager.child.pid ?? 0;
    const startMs = Date.now() - launched;
    const allUpMs = startMs + (await settle(host, `all ${DAEMONS} daemons to run`));
    const before = sample(pid);
    process.stdout.write(`soak: all up in ${allUpMs} ms; ${SECONDS} s of crashes and clients\n`);

    const calls: Call[] = [];
    let peakRss = before.rssKiB;
    const rssTrend: number[] = [];
    let ticks = 0;
    let stormOver = false;
    const clients = (async () => {
      while (!stormOver) calls.push(...(await wave(host, users, CLIENTS)));
    })();
    const stormStart = sample(pid);
    const killed = await crashStorm(() => {
      const rss = residentKiB(pid);
      peakRss = Math.max(peakRss, rss);
      if (++ticks % 10 === 0) rssTrend.push(rss);
    });
    stormOver = true;
    await clients;
    const afterStorm = sample(pid);
    const settleMs = await settle(host, `all ${DAEMONS} daemons to run again`);
    const finalWave = await wave(host, users, CLIENTS);
    calls.push(...finalWave);
    // A last look once the final wave's connections are closed on both sides.
    await waitFor('the manager to close the last connections', () =>
      sample(pid).fds <= before.fds ? true : undefined,
    ).catch(() => undefined);
    const after = sample(pid);
    const rows = await host.status('root');
    const respawns = rows.reduce((sum, row) => sum + row.respawns, 0);
    const uids = new Set(users.map((user) => host.user(user).uid));
    const zombiesOfUsers = processTable().filter(
      (entry) => entry.state === 'Z' && uids.has(uidOf(entry.pid)),
    ).length;

    const logLines = manager.output().split('\n');
    const errorLines = logLines.filter((line) => / error /.test(line)).length;
    const unexpected = logLines.filter((line) => /unexpected/.test(line)).length;
    if (unexpected > 0) problems.push(`${unexpected} unexpected exceptions in the manager's log`);
    const failed = calls.filter((call) => !call.ok);
    const latencies = calls.map((call) => call.ms).sort((a, b) => a - b);
    if (failed.length > 0)
      problems.push(`${failed.length} dmctl calls failed, e.g. ${failed[0]?.error ?? ''}`);
    if (rows.length !== DAEMONS) problems.push(`status lists ${rows.length} daemons`);
    if (after.fds > before.fds) problems.push(`descriptors ${before.fds} -> ${after.fds}`);
    if (after.zombies > before.zombies)
      problems.push(`zombies ${before.zombies} -> ${after.zombies}`);
    if (!/ running, pid /.test(manager.output()) || manager.child.exitCode !== null)
      problems.push('the manager did not survive');

    const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const table = [
      `Run ${new Date().toISOString()} on ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, Node ${process.versions.node}`,
      '',
      '| figure | value |',
      '| --- | --- |',
      `| daemons / users | ${DAEMONS} / ${USERS} (${DAEMONS / 5} with output=log) |`,
      `| manager start to "running" | ${startMs} ms |`,
      `| start to all daemons running | ${allUpMs} ms |`,
      `| crash storm | ${SECONDS} s, ${killed} kill -9 (${KILLS}/s asked) |`,
      `| dmctl calls (waves of ${CLIENTS} at once) | ${calls.length}, ${failed.length} failed |`,
      `| dmctl latency p50 / p95 / max | ${percentile(latencies, 50)} / ${percentile(latencies, 95)} / ${latencies.at(-1) ?? 0} ms |`,
      `| respawns counted by status | ${respawns} |`,
      `| time to all running again after the storm | ${settleMs} ms |`,
      `| daemons lost / doubled after settling | 0 / 0 (checked in /proc) |`,
      `| manager + keeper descriptors before / after | ${before.fds} / ${after.fds} |`,
      `| zombie children of the manager + keeper before / after | ${before.zombies} / ${after.zombies} (users' zombies: ${zombiesOfUsers}) |`,
      `| manager RSS before / peak / after storm / after settling | ${mib(before.rssKiB)} / ${mib(peakRss)} / ${mib(afterStorm.rssKiB)} / ${mib(after.rssKiB)} |`,
      `| manager RSS every 10 s of the storm | ${rssTrend.map((kib) => (kib / 1024).toFixed(0)).join(', ')} MiB |`,
      `| manager log lines at error level / 'unexpected' | ${errorLines} / ${unexpected} |`,
      `| manager CPU during the storm | ${(afterStorm.cpuSeconds - stormStart.cpuSeconds).toFixed(1)} s of ${SECONDS} s |`,
      `| verdict | ${problems.length === 0 ? 'pass' : `FAIL: ${problems.join('; ')}`} |`,
    ];
    process.stdout.write(`${table.join('\n')}\n`);
  } catch (error) {
    problems.push(String((error as Error).stack ?? error));
    process.stderr.write(`soak: ${problems.at(-1)}\n`);
  } finally {
    await stopManager(manager);
    await host.cleanup();
  }
  return problems.length === 0 ? 0 : 1;
}

/** SIGTERM (every daemon stopped), SIGKILL if that takes more than two minutes. */
async function stopManager(manager: Spawned | undefined): Promise<void> {
  const child = manager?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const patience = new AbortController();
  await Promise.race([
    exited,
    delay(120_000, undefined, { signal: patience.signal }).catch(() => {}),
  ]);
  patience.abort();
  await manager?.stop();
}

process.exitCode = await main();
