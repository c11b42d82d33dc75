// `node bench/health.ts [--daemons 1000] [--seconds 30]`, as root, after `npm run build`:
// what health checks and watchdogs cost the manager. Each case starts a manager with N
// daemons (`sleep`, or a tiny C program that pings its watchdog), lets it settle, then
// counts the manager's and its keeper's CPU time and wake-ups (context switches) over a
// window, with the load average around it. The first case has no check at all: the idle
// figure, which must stay at 0 wake-ups. Saves results/health-quick.json and rewrites
// RESULTS.md. Hold `flock /tmp/dm-bench.lock` while it runs on a shared machine.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cpuBetween, sampleCpu } from './measures/cpu.ts';
import { managerProcesses } from './measures/process-sample.ts';
import { DaemonManagerPeer, writeMasterConfig } from './peers/daemon-manager.ts';
import { spawnLogged, stopChild } from './peers/spawn.ts';
import { describeMachine } from './report/machine.ts';
import { writeResultsMarkdown } from './report/markdown.ts';
import type { HealthCase, HealthResults } from './report/results.ts';

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    settle: { type: 'string', default: '10' },
    /** Only the cases whose name holds one of these texts (a,b); merged into the saved results. */
    only: { type: 'string' },
  },
});
const DAEMONS = Number(values.daemons);
const WINDOW_MS = Number(values.seconds) * 1000;
const SETTLE_MS = Number(values.settle) * 1000;

/** READY=1, then WATCHDOG=1 every second: the pings of a daemon with watchdog=. */
const PINGER_C = `
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path) return 1;
  struct sockaddr_un to = {.sun_family = AF_UNIX};
  strncpy(to.sun_path, path, sizeof to.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&to, sizeof to);
  for (;;) {
    sleep(1);
    sendto(fd, "WATCHDOG=1", 10, 0, (struct sockaddr *)&to, sizeof to);
  }
}
`;

interface CaseDef {
  readonly name: string;
  /** The lines of each daemon's file after start=. */
  readonly keys: (ports: { tcp: number; http: number }) => string;
  readonly pinger?: true;
}

const CASES: readonly CaseDef[] = [
  { name: 'no checks (idle)', keys: () => '' },
  { name: 'health=tcp: every 30s (default)', keys: (p) => `health=tcp:127.0.0.1:${p.tcp}\n` },
  {
    name: 'health=http:// every 30s (default)',
    keys: (p) => `health=http://127.0.0.1:${p.http}/health\n`,
  },
  {
    name: 'health=tcp: every 1s',
    keys: (p) => `health=tcp:127.0.0.1:${p.tcp}\nhealth_interval=1s\n`,
  },
  {
    name: 'ready=notify, watchdog=10s, a WATCHDOG=1 every 1s',
    keys: () => 'ready=notify\nwatchdog=10s\n',
    pinger: true,
  },
];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function runCase(
  dir: string,
  bin: string,
  def: CaseDef,
  ports: { tcp: number; http: number },
): Promise<HealthCase> {
  // Short: the notify sockets' paths must fit in 107 bytes.
  const caseDir = join(dir, `c${CASES.indexOf(def)}`);
  mkdirSync(caseDir);
  const pinger = join(dir, 'pinger');
  const start = def.pinger ? `exec ${pinger}` : 'exec sleep 100000';
  const { config, daemonDir } = writeMasterConfig(caseDir, ['stable-uptime = 1s']);
  for (let i = 0; i < DAEMONS; i++)
    writeFileSync(join(daemonDir, `d${i}.conf`), `start=${start}\n${def.keys(ports)}`, {
      mode: 0o644,
    });
  const log = join(caseDir, 'manager.log');
  const child = spawnLogged([join(bin, 'daemon-manager'), '--config', config, '--foreground'], log);
  const pid = child.pid ?? 0;
  try {
    // Every daemon running (ready, for notify) before the settling time starts.
    for (const deadline = Date.now() + 300_000; ; ) {
      let out = '';
      try {
        out = execFileSync(join(bin, 'dmctl'), ['--config', config, 'status'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
      } catch {
        // Not answering yet: it is still starting.
      }
      const running = out.split('\n').filter((line) => /\brunning\b/.test(line)).length;
      if (running === DAEMONS) break;
      if (Date.now() > deadline) throw new Error(`${def.name}: only ${running} running`);
      await delay(1000);
    }
    await delay(SETTLE_MS);
    const loadBefore = loadavg();
    const logBefore = readFileSync(log, 'utf8').length;
    const before = sampleCpu(managerProcesses(pid));
    await delay(WINDOW_MS);
    const after = sampleCpu(managerProcesses(pid));
    // Other sessions' tests add and remove users all the time here: each change of
    // /etc/passwd makes the manager read the accounts again, which is no check's doing.
    const accountChanges = readFileSync(log, 'utf8')
      .slice(logBefore)
      .split('\n')
      .filter((line) => line.includes('users and groups changed')).length;
    const use = cpuBetween(before, after);
    const seconds = WINDOW_MS / 1000;
    const result: HealthCase = {
      name: def.name,
      daemons: DAEMONS,
      seconds,
      settleSeconds: SETTLE_MS / 1000,
      cpuMsPerSecond: use.schedMs / seconds,
      wakeupsPerSecond: use.switches / seconds,
      wakeups: use.switches,
      accountChanges,
      loadBefore: loadBefore.map((load) => Math.round(load * 100) / 100),
      loadAfter: loadavg().map((load) => Math.round(load * 100) / 100),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result;
  } finally {
    const keepers = managerProcesses(pid).slice(1);
    await stopChild(child, 'SIGTERM', 60_000, () => keepers);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/health.ts runs as root');
  const dir = mkdtempSync(join(tmpdir(), 'dm-bench-health-'));
  const tcp = createTcpServer((socket) => socket.destroy());
  const http = createHttpServer((_, response) => response.writeHead(200).end());
  try {
    writeFileSync(join(dir, 'pinger.c'), PINGER_C);
    execFileSync('cc', ['-O2', '-o', join(dir, 'pinger'), join(dir, 'pinger.c')]);
    const ports = { tcp: await listen(tcp), http: await listen(http) };
    // A snapshot of the build, so that a rebuild meanwhile cannot mix two versions.
    const peer = new DaemonManagerPeer(join(dir, 'snapshot'));
    peer.install();
    const file = join(import.meta.dirname, 'results', 'health-quick.json');
    const only = values.only;
    const saved =
      only !== undefined && existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as HealthResults).cases
        : [];
    const cases: HealthCase[] = [...saved];
    for (const def of CASES) {
      if (only !== undefined && !only.split(',').some((part) => def.name.includes(part))) continue;
      const result = await runCase(dir, peer.bin, def, ports);
      const index = cases.findIndex((c) => c.name === def.name);
      if (index === -1) cases.push(result);
      else cases[index] = result;
    }
    const results: HealthResults = {
      date: new Date().toISOString(),
      machine: describeMachine(),
      settleSeconds: SETTLE_MS / 1000,
      cases,
    };
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    writeResultsMarkdown(import.meta.dirname);
  } finally {
    tcp.close();
    http.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
