import type { AttackPhase } from '../scenarios/attacker.ts';
import { describeRun, fixed, int, mib, table, when } from './format.ts';
import type { AttackResults } from './results.ts';
import { maximum, median, percentile } from './stats.ts';
import { WHY_ATTACK, WHY_SINCE, WHY_SOURCE } from './why.ts';

/** The security issue's bar: another user's `dmctl status` never slower than this. */
const STATUS_LIMIT_MS = 200;

export function renderAttack(results: AttackResults): string[] {
  const out = [`### Attacker workload, ${results.date.slice(0, 10)}`, ''];
  const run = results.run;
  if (!run) return [...out, 'Not run: ', ...results.failures.map((f) => `- ${f}`), ''];
  const { sizes } = run;
  out.push(
    `${when(results)}. daemon-manager alone (its figures: the manager and its \`dm-keeper\`, summed), real users (\`useradd\` under a random prefix, removed after). The victim has ${run.victimDaemons} daemons and runs \`dmctl status\` in a loop for ${run.without.seconds} s while ${run.without.respawnMs.length} of its daemons are killed with \`kill -9\`, first alone, then while the attacker: runs ${sizes.stuck} daemons that ignore SIGTERM, each leaving ${sizes.children} processes in sessions of their own (\`setsid\`), with \`stop_timeout=10m\`, and stops them all; has ${sizes.configs.toLocaleString('en')} more configs of ${sizes.configKb} KB (\`autostart=no\`; the manager loads at most 1,000 daemons and reads at most 4 MiB of configs per user, in name order, and lists the rest as refused or ignored: the stuck daemons are named to come first) and ${sizes.badNames.toLocaleString('en')} files \`*.conf\` whose names cannot be daemon names; and runs \`dmctl rescan\` in a loop, touching every big config before each${(sizes.busy ?? 0) > 0 ? `; and, while the victim measures, ${sizes.busy} busy loops (\`while :; do :; done\`, each in a session of its own) in one more daemon` : ''}. Beside the victim's dmctl, \`node -e 0\` runs in a loop as the victim too: what the machine's load alone (the attacker's thousands of processes, other sessions' tests) does to any Node client at that moment${run.without.socketStatus ? "; and a small Python client asks the same `status` on the victim's control socket in a loop: the manager's side of a call, without a client's start-up" : ''}.`,
    '',
    ...describeRun(results),
    ...table(
      [
        'victim',
        'dmctl status calls',
        'failed',
        'p50 / p99 / max ms',
        '`node -e 0` beside it: p50 / max ms',
        'status at the socket (no client start-up): calls, failed, p50 / p99 / max ms',
        'respawns after kill -9 (ms)',
        'manager CPU (% of a core)',
        'manager RSS max (MiB)',
        'manager descriptors max',
      ],
      [phaseRow('without the attacker', run.without), phaseRow('with the attacker', run.with)],
    ),
    '',
  );
  const worstWithout = maximum(run.without.respawnMs.map((ms) => ms ?? Number.NaN));
  const respawnsWith = run.with.respawnMs.map((ms) => ms ?? Number.POSITIVE_INFINITY);
  const statusMax = maximum(run.with.statusMs);
  out.push(
    ...table(
      ['goal (security issue)', 'measured', 'met'],
      [
        [
          `another user's \`dmctl status\` never slower than ${STATUS_LIMIT_MS} ms`,
          `with the attacker: max ${int(statusMax)} ms, p99 ${int(percentile(run.with.statusMs, 99))} ms, ${run.with.statusFailures} failed`,
          statusMax <= STATUS_LIMIT_MS && run.with.statusFailures === 0 ? 'yes' : '**no**',
        ],
        ...socketGoal(run.with),
        [
          "another user's respawns not delayed (each within 2× the worst without the attacker)",
          `with: ${respawnsWith.map((ms) => (Number.isFinite(ms) ? int(ms) : '>120000')).join(', ')} ms; without: worst ${int(worstWithout)} ms`,
          respawnsWith.every((ms) => ms <= 2 * worstWithout) ? 'yes' : '**no**',
        ],
      ],
      true,
    ),
    '',
    `The attacker: its first \`dmctl rescan\` (loading everything) took ${fixed(1)(run.firstRescanMs / 1000)} s; ${run.attackerProcesses} of its processes ran; stopping its ${sizes.stuck} stuck daemons (4 \`dmctl stop\` at a time) took ${fixed(1)(run.stopsMs / 1000)} s and left ${run.stuckStopping} stopping; ${run.rescanMs.length} rescans during the attack (${run.rescanFailures} failed), ${int(median(run.rescanMs))} ms median, ${int(maximum(run.rescanMs))} ms worst. The manager's own log reached ${mib(run.managerLogBytes / 1024)} MiB. After the attacker's processes were killed, SIGTERM to exit took ${run.sigtermExitMs === null ? '**more than 3 min**' : `${fixed(1)(run.sigtermExitMs / 1000)} s`}. Left after the clean-up: ${run.left.processes} processes, users ${run.left.users.length === 0 ? 'none' : run.left.users.join(', ')}, directories ${run.left.dirs.length === 0 ? 'none' : run.left.dirs.join(', ')}.`,
    '',
  );
  const missed =
    statusMax > STATUS_LIMIT_MS ||
    run.with.statusFailures > 0 ||
    !respawnsWith.every((ms) => ms <= 2 * worstWithout);
  if (results.date >= WHY_SINCE && missed)
    out.push(`**Why** (${WHY_SOURCE}):`, '', ...WHY_ATTACK.map((why) => `- ${why}`), '');
  const errors = [...run.without.statusErrors, ...run.with.statusErrors];
  if (errors.length > 0) out.push('dmctl failures seen:', '', ...errors.map((e) => `- ${e}`), '');
  return out;
}

/** The manager's side of the status goal, when the run measured it. */
function socketGoal(phase: AttackPhase): string[][] {
  const loop = phase.socketStatus;
  if (!loop) return [];
  return [
    [
      `the manager's answer to another user's \`status\` at its socket (no client start-up) never slower than ${STATUS_LIMIT_MS} ms`,
      `with the attacker: max ${int(loop.max)} ms, p99 ${int(loop.p99)} ms, ${loop.failures} failed of ${loop.calls}`,
      loop.max <= STATUS_LIMIT_MS && loop.failures === 0 ? 'yes' : '**no**',
    ],
  ];
}

function phaseRow(label: string, phase: AttackPhase): string[] {
  return [
    label,
    String(phase.statusMs.length),
    String(phase.statusFailures),
    `${int(percentile(phase.statusMs, 50))} / ${int(percentile(phase.statusMs, 99))} / ${int(maximum(phase.statusMs))}`,
    phase.nodeFloorMs
      ? `${int(percentile(phase.nodeFloorMs, 50))} / ${int(maximum(phase.nodeFloorMs))}`
      : 'not measured',
    phase.socketStatus
      ? `${phase.socketStatus.calls}, ${phase.socketStatus.failures}, ${int(phase.socketStatus.p50)} / ${int(phase.socketStatus.p99)} / ${int(phase.socketStatus.max)}`
      : 'not measured',
    phase.respawnMs.map((ms) => (ms === null ? '>120000' : int(ms))).join(', '),
    int(phase.managerCpuPct),
    mib(phase.managerRssKbMax),
    int(phase.managerFdsMax),
  ];
}
