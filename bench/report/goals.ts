import { baselineFigures, fleetFigures, logFigures, perDaemonKb } from './figures.ts';
import type { Results } from './results.ts';
import { median } from './stats.ts';

/** One goal of issue 5 judged against one run's figures. */
export interface Verdict {
  readonly goal: string;
  readonly measured: string;
  /** undefined when this mode did not measure what the goal needs. */
  readonly met: boolean | undefined;
}

const DM = 'daemon-manager';
/** "A few MB" over bare Node, made a number. */
const FEW_MB_KB = 5 * 1024;
/** "Bounded" peak RSS while 200 MB stream through: growth far below the volume. */
const LOG_GROWTH_BOUND_KB = 32 * 1024;

export function judgeGoals(results: Results): Verdict[] {
  const verdicts: Verdict[] = [];
  const has = (peer: string): boolean => results.peers.includes(peer);
  const add = (goal: string, measured: string, met: boolean | undefined): void => {
    verdicts.push({ goal, measured, met });
  };
  const counts = results.settings.counts;
  const maxCount = Math.max(...counts);
  const at = (peer: string, count: number) => fleetFigures(results, peer, count);
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  const mib = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;
  const dm100 = at(DM, 100);

  if (has('supervisord') && counts.includes(100)) {
    const peer = at('supervisord', 100);
    add(
      'private dirty with 100 daemons below supervisord with 100',
      `${mib(dm100.privateDirtyKb)} vs ${mib(peer.privateDirtyKb)} (${ratio(dm100.privateDirtyKb, peer.privateDirtyKb)})`,
      dm100.privateDirtyKb < peer.privateDirtyKb,
    );
  }
  if (has('PM2') && counts.includes(100)) {
    const peer = at('PM2', 100);
    add(
      "private dirty with 100 daemons at most half of PM2's God",
      `${mib(dm100.privateDirtyKb)} vs ${mib(peer.privateDirtyKb)} (${ratio(dm100.privateDirtyKb, peer.privateDirtyKb)})`,
      dm100.privateDirtyKb <= peer.privateDirtyKb / 2,
    );
  }
  const perDaemon = perDaemonKb(results, DM, 'privateDirtyKb');
  add(
    'each extra daemon under 20 KB (private dirty, fitted over N)',
    `${perDaemon.toFixed(1)} KiB (RSS: ${perDaemonKb(results, DM, 'rssKb').toFixed(1)} KiB)`,
    perDaemon < 20,
  );
  const base = baselineFigures(results);
  if (counts.includes(100))
    add(
      'RSS at most a few MB (5 MiB) over a bare Node 24 listening on a unix socket',
      `${mib(dm100.rssKb)} with 100 daemons vs ${mib(base.rssKb)}: +${mib(dm100.rssKb - base.rssKb)}`,
      dm100.rssKb - base.rssKb <= FEW_MB_KB,
    );
  const windowS = results.settings.idleMs / 1000;
  const switches = counts.map((count) => at(DM, count).idleSwitches);
  add(
    'idle: zero periodic wakeups',
    `context switches in ${windowS} s: ${counts.map((count, i) => `${switches[i]} (N=${count})`).join(', ')}`,
    switches.every((count) => count === 0),
  );
  const idleMax = at(DM, maxCount).idleSchedMs;
  add(
    'idle: CPU time over 60 s under 10 ms with 1000 daemons',
    `${idleMax.toFixed(2)} ms in ${windowS} s with ${maxCount} daemons`,
    maxCount >= 1000 && windowS >= 60 ? idleMax < 10 : undefined,
  );
  const respawn = counts.map((count) => at(DM, count).respawnMs);
  add(
    'respawn median under 5 ms',
    counts.map((count, i) => `${respawn[i]?.toFixed(1)} ms (N=${count})`).join(', '),
    respawn.every((ms) => ms < 5),
  );
  const peers = results.peers.filter((peer) => peer !== DM);
  const slower = counts.flatMap((count) =>
    peers
      .filter((peer) => at(peer, count).respawnMs <= at(DM, count).respawnMs)
      .map((peer) => `${peer} at N=${count} (${at(peer, count).respawnMs.toFixed(1)} ms)`),
  );
  add(
    'respawn faster than every peer',
    slower.length === 0 ? 'faster at every N' : `not faster than ${slower.join(', ')}`,
    slower.length === 0,
  );
  const floor = median(results.nodeFloorMs);
  for (const [peer, share] of [
    ['supervisord', 2],
    ['PM2', 5],
  ] as const) {
    if (!has(peer) || !counts.includes(100)) continue;
    const theirs = at(peer, 100).statusMs;
    add(
      `\`dmctl status\` with 100 daemons under 1/${share} of ${peer === 'PM2' ? '`pm2 jlist`' : '`supervisorctl status`'}`,
      `${dm100.statusMs.toFixed(1)} ms vs ${theirs.toFixed(1)} ms (${ratio(dm100.statusMs, theirs)}; \`node -e 0\` alone: ${floor.toFixed(1)} ms)`,
      dm100.statusMs < theirs / share,
    );
  }
  if (has('supervisord')) {
    const mine = at(DM, maxCount).startMs;
    const theirs = at('supervisord', maxCount).startMs;
    add(
      'start-up of 1000 daemons faster than supervisord',
      `${mine.toFixed(0)} ms vs ${theirs.toFixed(0)} ms with ${maxCount} daemons`,
      maxCount >= 1000 ? mine < theirs : undefined,
    );
  }
  const logs = logFigures(results, DM);
  add('logs: 0 lines lost', `${logs.linesLost} lost (worst run)`, logs.linesLost === 0);
  add('logs: at least 100 MB/s', `${logs.mbPerS.toFixed(0)} MB/s`, logs.mbPerS >= 100);
  add(
    'logs: bounded peak RSS (grows by under 32 MiB while 200 MB stream through)',
    `${mib(logs.rssBeforeKb)} before, peak ${mib(logs.peakRssKb)}: +${mib(logs.peakRssKb - logs.rssBeforeKb)}`,
    logs.peakRssKb - logs.rssBeforeKb < LOG_GROWTH_BOUND_KB,
  );
  return verdicts;
}
