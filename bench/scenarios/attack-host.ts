import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestHost } from '../../test/helpers/host.ts';
import { livePidsOfUid } from '../measures/proc.ts';
import { ReadyPipe } from '../measures/ready-pipe.ts';
import { userExists } from '../peers/users.ts';
import { type AttackRun, lendPipe, runAttack } from './attacker.ts';
import type { AttackSizes } from './attacker-files.ts';
import { onInterrupt } from './interrupt.ts';
import { fleetScript } from './workdir.ts';

export interface AttackerOptions {
  /** daemon-manager's bin/ directory; it must be readable by every user. */
  readonly bin: string;
  readonly sizes: AttackSizes;
  readonly victimDaemons: number;
  readonly seconds: number;
  readonly respawns: number;
  /** More `[settings]` lines of the master config (`cpu-fair-share = no`: the run before it). */
  readonly managerSettings?: string;
}

/** What the clean-up left: should be nothing. */
export interface AttackLeftovers {
  readonly processes: number;
  readonly users: readonly string[];
  readonly dirs: readonly string[];
}

export type AttackerResult = AttackRun & { readonly left: AttackLeftovers };

/**
 * The attacker scenario on real users: `useradd` under a random prefix (test/helpers'
 * TestHost), an attacker and a victim allowed in the master config, the victim's daemons
 * written; the run; then every process of both users killed, the users and the directory
 * removed, even on failure, and checked gone.
 */
export async function runAttackerScenario(options: AttackerOptions): Promise<AttackerResult> {
  const host = new TestHost();
  const forget = onInterrupt(() => host.cleanup());
  let pipe: ReadyPipe | undefined;
  let run: AttackRun | undefined;
  const uids: number[] = [];
  const names: string[] = [];
  try {
    const attacker = host.user('atk');
    const victim = host.user('vic');
    uids.push(attacker.uid, victim.uid);
    names.push(attacker.name, victim.name);
    host.writeMaster(
      '[can_run_as]\n{atk}\n{vic}\n',
      ['stable-uptime = 1s', options.managerSettings ?? ''].join('\n'),
    );
    pipe = new ReadyPipe(join(host.dir, 'ready.fifo'));
    lendPipe(pipe, victim);
    const script = join(host.dir, 'victim.sh');
    writeFileSync(script, `#!/bin/sh\n${fleetScript(pipe.path)}`, { mode: 0o755 });
    const victimNames = Array.from({ length: options.victimDaemons }, (_, index) => `v${index}`);
    for (const name of victimNames) host.writeDaemon('vic', name, `start=exec ${script} ${name}\n`);
    run = await runAttack({
      host,
      bin: options.bin,
      attacker,
      victim,
      victimNames,
      pipe,
      sizes: options.sizes,
      seconds: options.seconds,
      respawns: options.respawns,
    });
  } finally {
    forget();
    pipe?.close();
    await host.cleanup();
  }
  if (!run) throw new Error('the attack did not run');
  const left: AttackLeftovers = {
    processes: uids.reduce((sum, uid) => sum + livePidsOfUid(uid).length, 0),
    users: names.filter(userExists),
    dirs: existsSync(host.dir) ? [host.dir] : [],
  };
  return { ...run, left };
}
