import type { StormResults } from '../report/results.ts';
import {
  runCrashStorm,
  runShellLoops,
  type StormCeiling,
  type StormRun,
} from '../scenarios/crash-storm.ts';

export type StormSettings = StormResults['settings'];

/**
 * Every rate in every variant (discarded output, then `output=log`), one after the other;
 * before the manager's discard run at each rate, the machine's ceiling (bare shell loops).
 */
export async function runCrashStorms(
  settings: StormSettings,
  root: string,
  bin: string,
  log: (line: string) => void,
  failures: string[],
): Promise<{ runs: StormRun[]; ceilings: StormCeiling[] }> {
  const runs: StormRun[] = [];
  const ceilings: StormCeiling[] = [];
  for (const variant of settings.variants)
    for (const ratePerS of settings.rates) {
      if (variant === 'discard' && settings.ceilings !== false) {
        log(`crash storm ceiling: ${ratePerS} exits/s aimed at, bare shell loops`);
        try {
          const ceiling = await runShellLoops({
            root,
            bin,
            daemons: settings.daemons,
            ratePerS,
            seconds: settings.seconds,
            logLines: 0,
          });
          ceilings.push(ceiling);
          const sorted = [...ceiling.exitsPerS].sort((a, b) => a - b);
          log(
            `  ${sorted[Math.floor(sorted.length / 2)] ?? 0} exits/s, respawn median ${ceiling.respawn?.p50} ms (fork to ready ${ceiling.launch?.p50})`,
          );
        } catch (error) {
          failures.push(`${ratePerS}/s shell loops: ${(error as Error).message}`);
          log(`  FAILED: ${(error as Error).message}`);
        }
      }
      const logLines = variant === 'log' ? settings.logLines : 0;
      log(`crash storm: ${ratePerS} exits/s, output ${variant}, ${settings.seconds} s`);
      try {
        const run = await runCrashStorm({
          root,
          bin,
          daemons: settings.daemons,
          ratePerS,
          seconds: settings.seconds,
          logLines,
        });
        runs.push(run);
        const exits = run.series.map((second) => second.exits).sort((a, b) => a - b);
        log(
          `  ${exits[Math.floor(exits.length / 2)] ?? 0} exits/s, ${run.statusMs.length} dmctl (${run.statusFailures} failed, worst ${Math.max(0, ...run.statusMs).toFixed(0)} ms), SIGTERM ${run.sigtermExitMs === null ? 'ignored' : `${run.sigtermExitMs.toFixed(0)} ms`}, respawn median ${run.respawn?.p50} ms (fork to ready ${run.launch?.p50})`,
        );
      } catch (error) {
        failures.push(`${ratePerS}/s ${variant}: ${(error as Error).message}`);
        log(`  FAILED: ${(error as Error).message}`);
      }
    }
  return { runs, ceilings };
}
