import type { Peer } from '../peers/peer.ts';
import type { Results, Skip } from '../report/results.ts';
import { nodeClientFloorMs, nodeFloorMs, runBaseline } from '../scenarios/baseline.ts';
import { type FleetRun, runFleet } from '../scenarios/fleet.ts';
import { type LogRun, runLogThroughput } from '../scenarios/log-throughput.ts';

/** What the side-by-side part measures, besides its header. */
export type PeersPart = Pick<
  Results,
  | 'notes'
  | 'settings'
  | 'peers'
  | 'fleets'
  | 'logs'
  | 'baseline'
  | 'nodeFloorMs'
  | 'nodeClientFloorMs'
  | 'skipped'
>;

/**
 * Every peer at every N, in rounds (a round runs each system once at each N before the
 * next starts, so a disturbance of the machine spreads over all of them), with the bare
 * Node baseline and each system's log run in every round; then Node's floors.
 */
export async function runPeers(
  peers: readonly Peer[],
  settings: Results['settings'],
  root: string,
  log: (line: string) => void,
  failures: string[],
): Promise<PeersPart> {
  const fleets: Record<string, Record<string, FleetRun[]>> = {};
  const logs: Record<string, LogRun[]> = {};
  const baseline: Results['baseline'] = [];
  const skipped: Skip[] = [];
  for (const peer of peers)
    for (const count of settings.counts) {
      const reason = peer.skipReason(count);
      if (reason !== undefined) skipped.push({ peer: peer.name, count, reason });
    }
  for (let run = 1; run <= settings.runs; run++) {
    for (const count of settings.counts)
      for (const peer of peers) {
        if (peer.skipReason(count) !== undefined) continue;
        log(`run ${run}/${settings.runs}: ${peer.name} with ${count} daemons`);
        try {
          const result = await runFleet(peer, count, { root, ...settings });
          const byCount = fleets[peer.name] ?? {};
          byCount[String(count)] = [...(byCount[String(count)] ?? []), result];
          fleets[peer.name] = byCount;
          log(
            `  start ${result.startMs.toFixed(0)} ms, pd ${result.memory.privateDirtyKb} KiB, idle ${result.idle.schedMs.toFixed(2)} ms/${result.idle.switches} sw, status ${result.statusMs[0]?.toFixed(0)} ms, respawn ${result.respawnMs[0]?.toFixed(1)} ms`,
          );
        } catch (error) {
          failures.push(`${peer.name}, ${count} daemons, run ${run}: ${(error as Error).message}`);
          log(`  FAILED: ${(error as Error).message}`);
        }
      }
    log(`run ${run}/${settings.runs}: bare node baseline`);
    baseline.push(await runBaseline(root, settings.settleMs, settings.idleMs));
    for (const peer of peers) {
      log(`run ${run}/${settings.runs}: ${peer.name} log throughput`);
      try {
        const result = await runLogThroughput(peer, root, settings.logLines);
        logs[peer.name] = [...(logs[peer.name] ?? []), result];
        log(
          `  ${result.mbPerS.toFixed(0)} MB/s, ${result.linesLost} lost, ${result.cpuMs.toFixed(0)} ms CPU`,
        );
      } catch (error) {
        failures.push(`${peer.name}, log run ${run}: ${(error as Error).message}`);
        log(`  FAILED: ${(error as Error).message}`);
      }
    }
  }
  return {
    notes: Object.fromEntries(peers.map((peer) => [peer.name, peer.notes])),
    settings,
    peers: peers.map((peer) => peer.name),
    fleets,
    logs,
    baseline,
    nodeFloorMs: nodeFloorMs(20),
    nodeClientFloorMs: await nodeClientFloorMs(root, 20),
    skipped,
  };
}
