import { chownSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How much the attacker throws at the manager (the figures of the security issue). */
export interface AttackSizes {
  /** Daemons that ignore SIGTERM, each leaving `children` processes in sessions of their own. */
  readonly stuck: number;
  readonly children: number;
  /** More config files (valid, `autostart=no`, `configKb` KB each), re-read by every rescan. */
  readonly configs: number;
  readonly configKb: number;
  /** Files named `*.conf` that cannot be daemon names. */
  readonly badNames: number;
  /**
   * Busy loops (`while :; do :; done`, each in a session of its own) of one more daemon,
   * `abusy`, started right before the attack is measured (absent: none). What takes the
   * CPU from other users when the scheduler weighs each process alone.
   */
  readonly busy?: number;
}

/**
 * The security issue's figures: 200 stuck daemons, 4,000 processes left behind, 1,000
 * configs of 250 KB, 50,000 invalid names. The manager now loads at most 1,000 daemons
 * and reads at most 4 MiB of configs per user, in name order, and refuses the rest (its
 * README does not give the figures): an attacker who wants its stuck daemons loaded names them to
 * come first (`astuck*`, small files), before its invalid names (`bad name *`) and its
 * big configs (`big*`), whose excess the manager lists as refused at every rescan.
 */
export const ISSUE_SIZES: AttackSizes = {
  stuck: 200,
  children: 20,
  configs: 1000,
  configKb: 250,
  badNames: 50_000,
};

/** The owner of the files, and where its daemon configs go. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
  readonly daemonDir: string;
}

/** The ids of the stuck daemons, as `dmctl` takes them. */
export function stuckIds(user: string, sizes: AttackSizes): string[] {
  return Array.from({ length: sizes.stuck }, (_, index) => `${user}/${stuckName(index)}`);
}

/**
 * Writes the attacker's files into its daemon directory, owned by the attacker as if it
 * had written them itself: the stuck daemons, the big configs, the bad names. A stuck
 * daemon's shell ignores SIGTERM and starts `children` shells that `setsid` away from its
 * process group and ignore SIGTERM too, then becomes `sleep`; its `stop_timeout` is long,
 * so a `dmctl stop` leaves it stopping, with every process alive, for ten minutes. Its
 * config is small; the big ones are `configKb` KB each.
 */
export function writeAttackerFiles(owner: Owner, sizes: AttackSizes): void {
  mkdirSync(owner.daemonDir, { recursive: true });
  chownSync(owner.daemonDir, owner.uid, owner.gid);
  const write = (name: string, text: string): void => {
    const file = join(owner.daemonDir, name);
    writeFileSync(file, text, { mode: 0o644 });
    chownSync(file, owner.uid, owner.gid);
  };
  const filler = `# ${'x'.repeat(97)}\n`.repeat(Math.ceil((sizes.configKb * 1000) / 100));
  const stuck =
    `start=trap '' TERM; i=0; while [ $i -lt ${sizes.children} ]; do i=$((i + 1)); ` +
    `setsid sh -c "trap '' TERM; exec sleep 1000000" & done; exec sleep 1000000\n` +
    'stop_timeout=10m\n';
  for (let index = 0; index < sizes.stuck; index++) write(`${stuckName(index)}.conf`, stuck);
  // Named to come first, loaded whatever the cap; started by hand (see runAttack).
  if ((sizes.busy ?? 0) > 0)
    write(
      `${BUSY_NAME}.conf`,
      `start=i=0; while [ $i -lt ${sizes.busy} ]; do i=$((i + 1)); ` +
        `setsid sh -c 'while :; do :; done' & done; wait\nautostart=no\n`,
    );
  const big = `start=exec sleep 1000000\nautostart=no\n${filler}`;
  for (let index = 0; index < sizes.configs; index++) write(`${bigName(index)}.conf`, big);
  for (let index = 0; index < sizes.badNames; index++) write(`bad name ${index}.conf`, '');
}

/** Gives every big config a new modification time, as an attacker would before a rescan. */
export function touchBigConfigs(owner: Owner, sizes: AttackSizes): void {
  const now = new Date();
  for (let index = 0; index < sizes.configs; index++)
    utimesSync(join(owner.daemonDir, `${bigName(index)}.conf`), now, now);
}

/** The daemon of the busy loops. */
export const BUSY_NAME = 'abusy';

function stuckName(index: number): string {
  return `astuck${String(index).padStart(4, '0')}`;
}

function bigName(index: number): string {
  return `big${String(index).padStart(4, '0')}`;
}
