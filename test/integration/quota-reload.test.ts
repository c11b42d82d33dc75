import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { livePidsOfUid, v1CgroupOf } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const V1 = '/sys/fs/cgroup';

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** The user's quota'd cgroup (memory, cpu) or the daemon's one below it (pids). */
const inUsers = (user: string) => new RegExp(`/daemon-manager\\.[0-9a-f]+/${user}$`);
const inDaemons = (user: string) => new RegExp(`/daemon-manager\\.[0-9a-f]+/${user}/web$`);

/**
 * An outside review: a quota root added with SIGHUP left the user's running daemons
 * outside their user's cgroups (only daemons started afterwards joined), and one taken
 * away stayed on the cgroups they were in.
 */
describe('a quota given, changed or taken away by SIGHUP', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{alice}\n';
  let user = '';

  before(async () => {
    host.writeMaster(master);
    user = host.user('alice').name;
    // A child at once, and one more at each SIGUSR1 (the shell's wait ends at the signal).
    host.writeDaemon(
      'alice',
      'web',
      "start=trap 'sleep 6800022 &' USR1; sleep 6800021 & while :; do wait; done\n",
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  /** The daemon's processes, once its first child runs. */
  function processes(): number[] {
    return livePidsOfUid(host.user('alice').uid);
  }

  /** Waits until every process of the daemon is in the user's cgroups. */
  function waitUnderQuota(what: string): Promise<true> {
    const placed = (pid: number): boolean =>
      inUsers(user).test(v1CgroupOf(pid, 'memory')) &&
      inUsers(user).test(v1CgroupOf(pid, 'cpu')) &&
      inDaemons(user).test(v1CgroupOf(pid, 'pids'));
    return waitFor(what, () => (processes().every(placed) ? true : undefined), {
      describe: () =>
        processes()
          .map(
            (pid) => `${pid} (${commandOf(pid)}): ${readFileSync(`/proc/${pid}/cgroup`, 'utf8')}`,
          )
          .join('\n'),
    });
  }

  test("a running daemon's processes join the user's cgroups at once, with the limits written; changed, rewritten; taken away, lifted", async () => {
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    await waitFor('its first child', () =>
      processes().some((pid) => commandOf(pid) === 'sleep 6800021') ? true : undefined,
    );
    const logFrom = host.managerLog.length;

    await host.reload(`${master}[limits]\n{alice}: memory=64M, cpu=50, tasks=20\n`);
    await waitUnderQuota("the daemon's processes to join the user's cgroups");
    const memory = join(V1, 'memory', v1CgroupOf(web.pid, 'memory'));
    const cpu = join(V1, 'cpu', v1CgroupOf(web.pid, 'cpu'));
    const pids = join(V1, 'pids', v1CgroupOf(web.pid, 'pids'), '..');
    const read = (path: string) => readFileSync(path, 'utf8').trim();
    assert.equal(read(join(memory, 'memory.limit_in_bytes')), String(64 * 1024 * 1024));
    assert.equal(read(join(cpu, 'cpu.cfs_quota_us')), '50000');
    assert.equal(read(join(pids, 'pids.max')), '20');

    // A child forked afterwards is under the quota too.
    process.kill(web.pid, 'SIGUSR1');
    await waitFor('the child forked after the reload', () =>
      processes().some((pid) => commandOf(pid) === 'sleep 6800022') ? true : undefined,
    );
    await waitUnderQuota('the new child to be in the same cgroups');

    // Changed: the new limits are written where the processes already are.
    await host.reload(`${master}[limits]\n{alice}: memory=32M, tasks=10\n`);
    // The lower memory limit is written first (see memory-lowering.ts), the others then.
    await waitFor('the memory limit to be lowered, and the tasks limit', () =>
      read(join(memory, 'memory.limit_in_bytes')) === String(32 * 1024 * 1024) &&
      read(join(pids, 'pids.max')) === '10'
        ? true
        : undefined,
    );
    assert.equal(read(join(cpu, 'cpu.cfs_quota_us')), '-1');
    await waitUnderQuota('the processes to stay in the cgroups');

    await host.reload(master);
    await waitFor('the memory limit to be lifted', () =>
      BigInt(read(join(memory, 'memory.limit_in_bytes'))) > 2n ** 62n ? true : undefined,
    );
    assert.equal(read(join(cpu, 'cpu.cfs_quota_us')), '-1');
    assert.equal(read(join(pids, 'pids.max')), 'max');

    // Said once per change (the last once its moves are done, after the limits are
    // written: a full run read the log in between), and the daemon never restarted.
    const sayings = (): string[] =>
      host.managerLog.slice(logFrom).match(/the quota of '[^']+' is now [^\n]*/g) ?? [];
    await waitFor('the last change to be said', () =>
      sayings().some((line) => line.includes('is now none')) ? true : undefined,
    );
    const said = sayings();
    assert.equal(said.length, 3, host.managerLog.slice(logFrom));
    assert.match(
      said?.[0] ?? '',
      /is now memory=67108864, cpu=50, tasks=20: applied to their 1 daemon with processes/,
    );
    assert.match(said?.[1] ?? '', /is now memory=33554432, tasks=10: applied/);
    assert.match(said?.[2] ?? '', /is now none: applied/);
    const now = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.equal(now.pid, web.pid);
  });
});

/**
 * An outside review (5 runs in 10): a daemon whose processes fork and exit in a loop
 * outran the move of its processes into the user's cgroups at a SIGHUP, and the escaped
 * ones then held 1 GB against a 64 MB quota.
 */
describe('a quota given by SIGHUP to a daemon whose processes hop from pid to pid', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{bob}\n';
  let where = '';

  before(async () => {
    host.writeMaster(master);
    const bob = host.user('bob');
    where = join(bob.home, 'hop');
    host.mkdirAs(bob, where);
    host.writeDaemon('bob', 'hop', `start=exec python3 ${FIXTURES}/pid-hopper.py ${where} 10\n`);
    await host.startManager();
  });
  after(async () => {
    // Chains that hop outrun a kill of the pids a look found: they settle first.
    if (where !== '') writeFileSync(join(where, 'stop'), '');
    await host.cleanup();
  });

  const linesOf = (file: string): string[] => {
    try {
      return readFileSync(join(where, file), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  test("every process of the daemon ends up in the user's cgroups, the hopping ones too", async () => {
    const user = host.user('bob');
    const hop = await host.waitForDaemon('bob', 'bob/hop', (d) => d.pid > 0, 'to run');
    await waitFor('the ten chains to hop', () =>
      linesOf('started').length === 10 ? true : undefined,
    );
    const from = host.managerLog.length;

    host.writeMaster(`${master}[limits]\n{bob}: memory=64M, cpu=50, tasks=100\n`);
    process.kill(host.managerPid(), 'SIGHUP');
    const said = await waitFor(
      'the quota to be applied',
      () => /the quota of '[^']+' is now [^\n]*\n/.exec(host.managerLog.slice(from))?.[0],
    );

    // Each chain stops where it is, and says where that is: no pid escapes a look then.
    writeFileSync(join(where, 'stop'), '');
    await waitFor('the ten chains to settle', () =>
      linesOf('settled').length >= 10 ? true : undefined,
    );
    const placed = (pid: number): boolean => {
      try {
        return (
          inUsers(user.name).test(v1CgroupOf(pid, 'memory')) &&
          inUsers(user.name).test(v1CgroupOf(pid, 'cpu')) &&
          new RegExp(`/daemon-manager\\.[0-9a-f]+/${user.name}/hop$`).test(v1CgroupOf(pid, 'pids'))
        );
      } catch {
        return true; // Gone meanwhile (a process of a run stopped for a restart).
      }
    };
    await waitFor(
      "every process of the daemon to be in the user's cgroups",
      () => (livePidsOfUid(user.uid).every(placed) ? true : undefined),
      {
        describe: () =>
          `${said}${livePidsOfUid(user.uid)
            .filter((pid) => !placed(pid))
            .map((pid) => `${pid} (${commandOf(pid)}) outside: ${v1CgroupOf(pid, 'memory')}`)
            .join('\n')}`,
      },
    );

    // Moved without a restart, or (the move impossible) restarted inside it, and said so.
    const now = await host.waitForDaemon('bob', 'bob/hop', (d) => d.pid > 0, 'to run');
    if (now.pid === hop.pid) assert.match(said, /none restarted/);
    else {
      assert.match(said, /restarted/);
      const why = await host.dmctl('bob', 'hop', 'why');
      assert.match(why.stdout, /quota/);
    }
  });
});
