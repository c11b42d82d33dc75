import {
  baselineFigures,
  type FleetFigures,
  fleetFigures,
  logFigures,
  perDaemonKb,
  skipReason,
} from './figures.ts';
import { describeRun, fixed, int, mib, ratioOf, table, when } from './format.ts';
import { judgeGoals, type Verdict } from './goals.ts';
import type { Results } from './results.ts';
import { median } from './stats.ts';
import { WHY_GOAL, WHY_SINCE, WHY_SOURCE } from './why.ts';

/** The side-by-side section of one mode: goals, then figures 1-6, then the set-up. */
export function renderPeers(results: Results): string[] {
  const { settings, peers } = results;
  const others = peers.slice(1);
  const ratioHead = others.map((peer) => `dm/${peer}`);
  const out: string[] = [];
  const line = (...texts: string[]): void => {
    out.push(...(texts.length === 0 ? [''] : texts));
  };

  /** Why a cell has no figure: the system was not run there, or its answer was incomplete. */
  const missing = (peer: string, count: number, figures: FleetFigures): string | undefined =>
    skipReason(results, peer, count) ??
    (figures.runs === 0 ? 'every run failed (see the end of this section)' : undefined);

  const fleetTable = (
    title: string,
    pick: (figures: FleetFigures) => number,
    format: (value: number) => string,
    invalid: (figures: FleetFigures, count: number) => string | undefined = () => undefined,
  ): void => {
    const notes = new Map<string, string[]>();
    const rows = settings.counts.map((count) => {
      const values = peers.map((peer) => {
        const figures = fleetFigures(results, peer, count);
        const why = missing(peer, count, figures) ?? invalid(figures, count);
        if (why === undefined) return pick(figures);
        notes.set(why, [...(notes.get(why) ?? []), `${peer} at N = ${count}`]);
        return Number.NaN;
      });
      const mine = values[0] ?? Number.NaN;
      return [
        String(count),
        ...values.map((value) => (Number.isNaN(value) ? 'n/a' : format(value))),
        ...values.slice(1).map((theirs) => ratioOf(mine, theirs)),
      ];
    });
    line(`**${title}**`, '', ...table(['N', ...peers, ...ratioHead], rows), '');
    for (const [why, where] of notes) line(`n/a: ${where.join(', ')}: ${why}.`);
    if (notes.size > 0) line();
  };

  line(`## ${results.mode === 'full' ? 'Full' : 'Quick'} run, ${results.date.slice(0, 10)}`, '');
  line(
    `${when(results)}. N = ${settings.counts.join(', ')}; ${settings.runs} run${settings.runs > 1 ? 's' : ''} of each; idle window ${settings.idleMs / 1000} s after ${settings.settleMs / 1000} s of settling; ${settings.statusRepeats} status calls and ${settings.respawns} respawns per run; log test ${(settings.logLines * 100) / 1e6} MB.`,
    '',
  );
  line(...describeRun(results));

  line('### Goals of the performance issue', '');
  const verdicts = judgeGoals(results);
  line(
    ...table(
      ['goal', 'measured', 'met'],
      verdicts.map((verdict) => [
        verdict.goal,
        verdict.measured,
        verdict.met === undefined ? 'not measured in this run' : verdict.met ? 'yes' : '**no**',
      ]),
      true,
    ),
    '',
  );
  line(...whyBehind(results, verdicts));

  line('### 1. Memory of the supervisor’s own processes', '');
  fleetTable('RSS (MiB)', (f) => f.rssKb, mib);
  fleetTable('PSS (MiB)', (f) => f.pssKb, mib);
  fleetTable('Private dirty (MiB)', (f) => f.privateDirtyKb, mib);
  line('**Cost of one more daemon (KiB, least-squares slope over N)**', '');
  const slopes = (['rssKb', 'pssKb', 'privateDirtyKb'] as const).map((key, index) => {
    const values = peers.map((peer) => perDaemonKb(results, peer, key));
    return [
      ['RSS', 'PSS', 'private dirty'][index] ?? key,
      ...values.map(fixed(1)),
      ...values.slice(1).map((theirs) => ratioOf(values[0] ?? Number.NaN, theirs)),
    ];
  });
  line(...table(['figure', ...peers, ...ratioHead], slopes), '');
  const base = baselineFigures(results);
  line(
    `Bare Node 24 with a net server on a unix socket: RSS ${mib(base.rssKb)}, PSS ${mib(base.pssKb)}, private dirty ${mib(base.privateDirtyKb)} MiB.`,
    '',
  );

  line(`### 2. Idle, over ${settings.idleMs / 1000} s`, '');
  fleetTable('CPU time, ms (schedstat, ns resolution)', (f) => f.idleSchedMs, fixed(2));
  fleetTable('CPU time, ms (utime+stime, 10 ms ticks)', (f) => f.idleStatMs, int);
  fleetTable(
    'Context switches (voluntary + involuntary, every thread)',
    (f) => f.idleSwitches,
    int,
  );
  fleetTable('Context switches in the second half alone', (f) => f.idleLateSwitches, int);
  line(
    `Bare Node baseline over the same window: ${base.idleSchedMs.toFixed(2)} ms CPU, ${base.idleSwitches} context switches.`,
    '',
  );
  const etc = settings.counts.map((count) => fleetFigures(results, peers[0] ?? '', count));
  if (etc.some((figures) => Number.isFinite(figures.idleEtcEvents)))
    line(
      `Changes in /etc during ${peers[0]}'s idle windows (others adding and removing users: it reads the accounts again when /etc/passwd or /etc/group change, and its watch of /etc wakes it for any change there): ${settings.counts.map((count, i) => `${etc[i]?.idleEtcEvents} (N=${count})`).join(', ')}.`,
      '',
    );

  line('### 3. Cold start until every daemon runs', '');
  fleetTable('ms', (f) => f.startMs, int);

  line('### 4. Status command listing every daemon', '');
  fleetTable(
    'ms per call',
    (f) => f.statusMs,
    fixed(1),
    (f, count) =>
      f.statusListedMin < count
        ? `its status listed as few as ${f.statusListedMin} of the ${count} running daemons, so its time is not that of a whole listing`
        : undefined,
  );
  line(
    `Floors with the same Node 24 binary: \`node -e 0\` ${median(results.nodeFloorMs).toFixed(1)} ms; a Node client that connects to a unix socket and reads one line ${fixed(1)(median(results.nodeClientFloorMs ?? []))} ms.`,
    '',
  );

  line('### 5. Respawn after `kill -9` of a daemon up for a while', '');
  fleetTable('median ms', (f) => f.respawnMs, fixed(1));
  fleetTable('worst ms', (f) => f.respawnMaxMs, fixed(1));
  const cgroup = settings.counts
    .map((count) => fleetFigures(results, peers[0] ?? '', count).daemonCgroup)
    .find((where) => where !== undefined);
  if (cgroup !== undefined)
    line(
      `${peers[0]}'s daemons ran in cgroups of their own: ${cgroup === '' ? 'no (cgroups off)' : `yes, e.g. ${cgroup}`}.`,
      '',
    );

  renderLogs(results, line);
  renderSetup(results, line);
  return out;
}

function renderLogs(results: Results, line: (...texts: string[]) => void): void {
  const { peers, settings } = results;
  const logs = peers.map((peer) => logFigures(results, peer));
  line(`### 6. Log capture of ${(settings.logLines * 100) / 1e6} MB of 100-byte lines`, '');
  const rows = (
    [
      ['MB/s', (f) => f.mbPerS, int],
      ['lines lost (worst run)', (f) => f.linesLost, int],
      ['lines written only at stop (worst run)', (f) => f.linesLate, int],
      ['supervisor CPU per MB (ms)', (f) => f.cpuMsPerMb, fixed(2)],
      ['RSS before (MiB)', (f) => f.rssBeforeKb, mib],
      ['peak RSS during (MiB)', (f) => f.peakRssKb, mib],
    ] as const satisfies readonly (readonly [
      string,
      (f: (typeof logs)[number]) => number,
      (v: number) => string,
    ])[]
  ).map(([label, pick, format]) => {
    const values = logs.map(pick);
    return [
      label,
      ...values.map(format),
      ...values.slice(1).map((theirs) => ratioOf(values[0] ?? Number.NaN, theirs)),
    ];
  });
  line(...table(['figure', ...peers, ...peers.slice(1).map((peer) => `dm/${peer}`)], rows), '');
  if (peers.includes('original'))
    line(
      "The original's daemons write their log file themselves (no pipe, no copy), so its CPU per MB and peak RSS are those of a manager that is not in the path: its throughput is the disk's and `yes | head`'s.",
      '',
    );
}

function renderSetup(results: Results, line: (...texts: string[]) => void): void {
  const { peers, settings } = results;
  line('### How each system was set up', '');
  for (const peer of peers) {
    line(`- **${peer}**:`);
    for (const note of results.notes[peer] ?? []) line(`  - ${note}`);
  }
  line();
  let processes = 0;
  let cgroups = 0;
  for (const peer of peers) {
    for (const count of settings.counts) {
      const figures = fleetFigures(results, peer, count);
      processes += figures.leftovers;
      cgroups += figures.cgroupsLeft;
    }
    processes += logFigures(results, peer).leftovers;
  }
  line(
    `Left behind by a system's own stop (the bench removed them): ${processes} processes, ${cgroups} cgroup directories; temporary directories left at the end: ${results.hostLeftovers === undefined ? 'not checked' : results.hostLeftovers.length === 0 ? 'none' : results.hostLeftovers.join(', ')}.`,
  );
  if (results.failures.length > 0) line('', 'Failed runs (left out of the medians):', '');
  for (const failure of results.failures) line(`- ${failure}`);
  line();
}

/** Under the goals of a run made since the reasons were found: each goal missed, and why. */
function whyBehind(results: Results, verdicts: readonly Verdict[]): string[] {
  if (results.date < WHY_SINCE) return [];
  const missed = [
    ...new Set(verdicts.filter((v) => v.met === false).map((v) => v.goal.slice(0, 1))),
  ];
  if (missed.length === 0) return [];
  return [
    `**Where daemon-manager is still behind, and why** (${WHY_SOURCE}):`,
    '',
    ...missed.map((goal) => `- Goal ${goal}: ${WHY_GOAL[goal] ?? 'not looked into yet.'}`),
    '',
  ];
}
