import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The keeper the build made. */
export const KEEPER = join(import.meta.dirname, '../../build/Release/dm-keeper');

/**
 * Runs a Python driver of the keeper's protocol (`python3 -c DRIVER KEEPER ...args`), with
 * keeper_driver.py beside this file importable; at most two minutes.
 */
export function runKeeperDriver(driver: string, args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync('python3', ['-c', driver, KEEPER, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PYTHONPATH: import.meta.dirname },
  });
}
