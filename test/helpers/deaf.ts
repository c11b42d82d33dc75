import { join } from 'node:path';
import type { TestHost } from './host.ts';

/**
 * Writes alice's daemon `deaf`, which ignores SIGTERM and adds a line `TERM` to the file
 * `terms` (in `marks`, a directory of hers) for each one it gets. `atOnce`: its trap runs
 * as the signal comes (a `wait` returns at once), else within 0.2 s.
 */
export function writeDeafDaemon(
  host: TestHost,
  atOnce = false,
): { file: string; marks: string; terms: string } {
  const alice = host.user('alice');
  const marks = join(alice.home, 'marks');
  host.mkdirAs(alice, marks);
  const terms = join(marks, 'terms');
  const loop = atOnce ? 'sleep 100000 & wait $!' : 'sleep 0.2';
  const file = host.writeDaemon(
    'alice',
    'deaf',
    `start=exec sh -c 'trap "echo TERM >> ${terms}" TERM; while :; do ${loop}; done'\n`,
  );
  return { file, marks, terms };
}
