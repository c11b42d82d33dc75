/**
 * The FastCGI figure of issue 12: requests through nginx to php-cgi (as www-data) while
 * php-cgi's main process is killed with SIGKILL N times, with the socket held by the
 * manager (`listen=`) and with php-cgi binding its own (`php-cgi -b`). Writes
 * bench/results/fastcgi.json and bench/FASTCGI.md.
 *
 *   node bench/fastcgi.ts [--kills N] [--parallel P] [--between R]
 *
 * As root, after `npm run build`, with nginx and php-cgi installed (apt-get install -y
 * nginx php-cgi); it installs nothing.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  FASTCGI_DAEMONS,
  type KillLoopResult,
  killWhileRequesting,
  missingFastcgiPrograms,
  runningPid,
  startFastcgiSite,
  writeFastcgiDaemons,
} from '../test/helpers/fastcgi.ts';
import { ROOT_DIR, TestHost } from '../test/helpers/host.ts';

interface FastcgiRun {
  readonly date: string;
  readonly commit: string;
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly parallel: number;
  readonly between: number;
  readonly held: KillLoopResult;
  readonly own: KillLoopResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '20' },
      parallel: { type: 'string', default: '4' },
      between: { type: 'string', default: '20' },
    },
  });
  const missing = missingFastcgiPrograms();
  if (process.getuid?.() !== 0 || missing !== undefined) {
    process.stderr.write(`bench/fastcgi.ts: ${missing ?? 'needs root (it creates users)'}\n`);
    process.exit(2);
  }
  const kills = Number(values.kills);
  const parallel = Number(values.parallel);
  const between = Number(values.between);
  const host = new TestHost();
  const loadBefore = loadavg()[0] ?? 0;
  try {
    writeFastcgiDaemons(host);
    await host.startManager();
    const measure = async (way: keyof typeof FASTCGI_DAEMONS): Promise<KillLoopResult> => {
      const id = host.id(FASTCGI_DAEMONS[way]);
      await host.dmctl('root', id, 'start');
      const site = await startFastcgiSite(host, way);
      try {
        const pidOf = runningPid(host, FASTCGI_DAEMONS[way]);
        return await killWhileRequesting({ ...site, kills, parallel, between, pidOf });
      } finally {
        site.nginx.kill('SIGTERM');
        await host.dmctl('root', id, 'stop');
      }
    };
    const held = await measure('held');
    const own = await measure('own');
    const run: FastcgiRun = {
      date: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT_DIR })
        .toString()
        .trim(),
      loadBefore,
      loadAfter: loadavg()[0] ?? 0,
      parallel,
      between,
      held,
      own,
    };
    writeFileSync(
      join(ROOT_DIR, 'bench/results/fastcgi.json'),
      `${JSON.stringify(run, null, 2)}\n`,
    );
    writeFileSync(join(ROOT_DIR, 'bench/FASTCGI.md'), markdown(run));
    process.stdout.write(markdown(run));
  } finally {
    await host.cleanup();
  }
}

function markdown(run: FastcgiRun): string {
  const row = (what: string, result: KillLoopResult): string => {
    const failed = result.bad + result.errors;
    return `| ${what} | ${result.kills} | ${result.requests} | ${failed} | ${result.refused} | ${result.broken} |`;
  };
  return `# FastCGI while php-cgi is killed (issue 12)

nginx in front of php-cgi (\`PHP_FCGI_CHILDREN=4\`, run as www-data by daemon-manager),
${run.parallel} loops of requests, php-cgi's main process killed with SIGKILL each time
its successor had answered ${run.between} requests. Written by \`node bench/fastcgi.ts\`
(the same code as \`test/integration/fastcgi.test.ts\`, with more kills) on ${run.date.slice(0, 10)},
commit ${run.commit}, on the shared 2-core machine (load average ${run.loadBefore.toFixed(1)}
before, ${run.loadAfter.toFixed(1)} after); raw figures in \`results/fastcgi.json\`.

| php-cgi's socket | kills | requests | failed (not 200) | of which: nothing listening | of which: its process was killed |
| --- | ---: | ---: | ---: | ---: | ---: |
${row('held by the manager (`listen=`, `listen_fd=0`)', run.held)}
${row('bound by php-cgi itself (`php-cgi -b`)', run.own)}

"Nothing listening" counts nginx's \`connect() to unix:... failed\` lines (ECONNREFUSED,
or no socket file); "its process was killed" counts requests a php-cgi process was
running when it died (\`upstream prematurely closed\`, \`recv() failed\`). With the socket
held, connections made while php-cgi is away wait in the socket's backlog and are
answered by the next php-cgi. Without it, every request between a kill and the respawn
is answered 502. The number of requests differs between the rows because failed
requests return at once.
`;
}

await main();
