import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { livePidsOfUid, v1CgroupOf } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const V1 = '/sys/fs/cgroup';
const BUSY = 'while :; do :; done';

/** The user's own cpu cgroup, right below the manager's tag cgroup. */
const inUsers = (user: string) => new RegExp(`/daemon-manager\\.[0-9a-f]+/${user}$`);

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** The busy loops a user runs (`sh -c 'while :; ...'`). */
function busyLoops(uid: number): number[] {
  return livePidsOfUid(uid).filter((pid) => commandOf(pid) === `sh -c ${BUSY}`);
}

/** CPU time a process used so far, in clock ticks (utime + stime, proc(5)). */
function cpuTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

const sum = (pids: readonly number[]): number =>
  pids.reduce((total, pid) => total + cpuTicks(pid), 0);

describe("a user's daemons share one cpu cgroup by default", {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{alice}\n';
  let user = '';
  let ownCpu = '';

  before(async () => {
    host.writeMaster(master);
    user = host.user('alice').name;
    host.writeDaemon('alice', 'web', 'start=sleep 6800031 & sleep 6800032 & wait\n');
    host.writeDaemon('alice', 'db', 'start=exec sleep 6800033\n');
    await host.startManager();
    ownCpu = v1CgroupOf(host.managerPid(), 'cpu');
  });
  after(() => host.cleanup());

  function processes(): number[] {
    return livePidsOfUid(host.user('alice').uid);
  }

  async function reload(settings: string, limits = ''): Promise<void> {
    host.writeMaster(master + limits, settings);
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the reload', () =>
      /SIGHUP: reloading/.test(host.managerLog.slice(from)) ? true : undefined,
    );
  }

  /** Waits until all four processes (two daemons, a shell's two children) are where `placed` says. */
  function waitPlaced(what: string, placed: (cpu: string) => boolean): Promise<true> {
    return waitFor(
      what,
      () => {
        const pids = processes();
        return pids.length === 4 && pids.every((pid) => placed(v1CgroupOf(pid, 'cpu')))
          ? true
          : undefined;
      },
      {
        describe: () =>
          processes()
            .map((pid) => `${pid} (${commandOf(pid)}): ${v1CgroupOf(pid, 'cpu')}`)
            .join('\n'),
      },
    );
  }

  test("every process of the user's daemons is in the user's cpu cgroup, with the default shares and no cap", async () => {
    await waitPlaced("the daemons' processes in the user's cpu cgroup", (cpu) =>
      inUsers(user).test(cpu),
    );
    const [pid] = processes();
    const cgroup = join(V1, 'cpu', v1CgroupOf(pid ?? 0, 'cpu'));
    assert.equal(readFileSync(join(cgroup, 'cpu.shares'), 'utf8').trim(), '1024');
    assert.equal(readFileSync(join(cgroup, 'cpu.cfs_quota_us'), 'utf8').trim(), '-1');
    // The manager's own memory and pids cgroups: no other controller is joined for it.
    for (const each of processes())
      assert.equal(v1CgroupOf(each, 'memory'), v1CgroupOf(host.managerPid(), 'memory'));
  });

  test('a cpu-weight in [limits] is written as the cpu.shares of the running daemons', async () => {
    await reload('', '[limits]\n{alice}: cpu-weight=400\n');
    const [pid] = processes();
    const shares = join(V1, 'cpu', v1CgroupOf(pid ?? 0, 'cpu'), 'cpu.shares');
    await waitFor('cpu.shares 4096', () =>
      readFileSync(shares, 'utf8').trim() === '4096' ? true : undefined,
    );
    await reload('');
    await waitFor('cpu.shares back to 1024', () =>
      readFileSync(shares, 'utf8').trim() === '1024' ? true : undefined,
    );
  });

  test('cpu-fair-share = no by SIGHUP moves the running daemons out, = yes back in, none restarted', async () => {
    const pids = processes().sort();
    const from = host.managerLog.length;
    await reload('cpu-fair-share = no');
    await waitPlaced(
      "the daemons' processes back in the manager's cpu cgroup",
      (cpu) => cpu === ownCpu,
    );
    await reload('cpu-fair-share = yes');
    await waitPlaced("the daemons' processes in the user's cpu cgroup again", (cpu) =>
      inUsers(user).test(cpu),
    );
    assert.deepEqual(processes().sort(), pids);
    // Said each way, once the moves are done (the line comes after the last move).
    const said = (pattern: RegExp) => () =>
      pattern.test(host.managerLog.slice(from)) ? true : undefined;
    await waitFor(
      'the line of the move out',
      said(
        /is now cpu-fair-share=no: applied to their 2 daemons with processes \(4 processes moved, none restarted\)/,
      ),
    );
    await waitFor(
      'the line of the move in',
      said(
        /is now none: applied to their 2 daemons with processes \(4 processes moved, none restarted\)/,
      ),
    );
  });

  // An outside review (19c) read "144 processes moved" of 72 moved into two hierarchies.
  test('a process moved into several cgroups at once is counted once', async () => {
    const from = host.managerLog.length;
    await reload('cpu-fair-share = no', '[limits]\n{alice}: memory=1G, tasks=100\n');
    await waitFor(
      'the line of the move',
      () =>
        /is now memory=1073741824, tasks=100, cpu-fair-share=no: applied to their 2 daemons with processes \(4 processes moved, none restarted\)/.test(
          host.managerLog.slice(from),
        )
          ? true
          : undefined,
      { describe: () => host.managerLog.slice(from) },
    );
    await reload('');
    await waitPlaced("the daemons' processes in the user's cpu cgroup again", (cpu) =>
      inUsers(user).test(cpu),
    );
  });
});

describe('cpu-fair-share = no', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{bob}\n', 'cpu-fair-share = no');
    host.writeDaemon('bob', 'plain', 'start=exec sleep 6800034\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  test('a user without a cpu quota joins no cpu cgroup', async () => {
    const plain = await host.waitForDaemon('bob', 'bob/plain', (d) => d.pid > 0, 'to run');
    assert.equal(v1CgroupOf(plain.pid, 'cpu'), v1CgroupOf(host.managerPid(), 'cpu'));
  });
});

describe('cpu-fair-share where there is no cpu hierarchy to use', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{carol}\n';

  before(async () => {
    host.writeMaster(master, 'cgroups = no');
    host.writeDaemon('carol', 'plain', 'start=exec sleep 6800035\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  test('does nothing, says so once at the start, and nothing of it at a SIGHUP', async () => {
    const plain = await host.waitForDaemon('carol', 'carol/plain', (d) => d.pid > 0, 'to run');
    assert.equal(v1CgroupOf(plain.pid, 'cpu'), v1CgroupOf(host.managerPid(), 'cpu'));
    const said = /cpu-fair-share does nothing here \(cgroups = no\)/g;
    assert.equal(host.managerLog.match(said)?.length, 1, host.managerLog);
    const from = host.managerLog.length;
    host.writeMaster(master, 'cgroups = no');
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the reload', () =>
      /SIGHUP: reloading/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    await host.dmctl('carol', 'status');
    assert.doesNotMatch(host.managerLog.slice(from), /quota|cpu-fair-share/);
  });
});

/**
 * Two users' busy loops on one CPU: alice's eight, bob's one. Weighed process by process
 * bob gets a ninth of what all get, an eighth of alice's; in groups per user, as much as
 * alice. Judged on the ratio of their CPU times, which other load on that CPU leaves alone.
 * alice's loops are each in a session of their own (setsid), as each daemon is: in the
 * root cpu cgroup the kernel's autogroup (sched_autogroup_enabled) weighs each session
 * as one, so eight loops in one session took no more than bob's one (ratio 1.03 without
 * the per-user groups); eight sessions, or eight daemons, took eight shares.
 */
async function shareOfBob(settings: string): Promise<number> {
  const host = new TestHost();
  try {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', settings);
    host.writeDaemon(
      'alice',
      'many',
      `start=exec taskset -c 0 sh -c 'for i in 1 2 3 4 5 6 7 8; do setsid sh -c "${BUSY}" & done; wait'\n`,
    );
    host.writeDaemon('bob', 'one', `start=exec taskset -c 0 sh -c '${BUSY}'\n`);
    await host.startManager();
    const alice = await waitFor("alice's 8 busy loops", () => {
      const loops = busyLoops(host.user('alice').uid);
      return loops.length === 8 ? loops : undefined;
    });
    const bob = await waitFor("bob's busy loop", () => {
      const loops = busyLoops(host.user('bob').uid);
      return loops.length === 1 ? loops : undefined;
    });
    const start = { alice: sum(alice), bob: sum(bob) };
    // Two seconds of CPU 0 between them, however long other load makes that take.
    await waitFor(
      '200 ticks of CPU time used by the loops',
      () => (sum(alice) - start.alice + sum(bob) - start.bob >= 200 ? true : undefined),
      { timeoutMs: 120_000 },
    );
    return (sum(bob) - start.bob) / Math.max(1, sum(alice) - start.alice);
  } finally {
    await host.cleanup();
  }
}

describe('one CPU shared by a user with eight busy processes and one with one', {
  skip: !root && 'needs root',
}, () => {
  test('with cpu-fair-share (the default), the user with one gets about as much as the other', async (t) => {
    const ratio = await shareOfBob('');
    t.diagnostic(`bob's CPU time / alice's: ${ratio.toFixed(3)}`);
    // 1 when fair; 1/8 when weighed process by process.
    assert.ok(ratio > 0.5, `bob's CPU time / alice's: ${ratio.toFixed(3)}`);
  });

  test('with cpu-fair-share = no, the user with one gets about an eighth of the other', async (t) => {
    const ratio = await shareOfBob('cpu-fair-share = no');
    t.diagnostic(`bob's CPU time / alice's: ${ratio.toFixed(3)}`);
    assert.ok(ratio < 0.3, `bob's CPU time / alice's: ${ratio.toFixed(3)}`);
  });
});

/*
 * A check (ready= or health= exec:) runs where its daemon's processes are. Its place was
 * taken from the run's launch plan, made at its start: after a SIGHUP had moved the
 * daemon into the user's cpu cgroup, its checks were still forked outside (an outside
 * review: a busy check per daemon, outside the fair share), and the other way round.
 */
describe('checks follow their daemon when a SIGHUP moves it', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{alice}\n';
  const seen = (): string => join(host.user('alice').home, 'check-cgroup');

  before(async () => {
    host.writeMaster(master, 'cpu-fair-share = no');
    host.writeDaemon(
      'alice',
      'web',
      `start=exec sleep 6800041\nhealth=exec:grep '^[0-9]*:cpu[:,]' /proc/self/cgroup > ${seen()}\nhealth_interval=1s\n`,
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  /** The cpu cgroup the last check ran in. */
  const lastCheck = (): string => {
    try {
      return readFileSync(seen(), 'utf8').trim().split(':').at(-1) ?? '';
    } catch {
      return '';
    }
  };

  async function reload(settings: string): Promise<void> {
    host.writeMaster(master, settings);
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the move', () =>
      /the quota of '[^']+' is now/.test(host.managerLog.slice(from)) ? true : undefined,
    );
  }

  test("turned on: the checks run in the user's cpu cgroup", async () => {
    const own = v1CgroupOf(host.managerPid(), 'cpu');
    await waitFor('a check outside', () => (lastCheck() === own ? true : undefined));
    await reload('');
    await waitFor(
      "a check in the user's cpu cgroup",
      () => (inUsers(host.user('alice').name).test(lastCheck()) ? true : undefined),
      { describe: lastCheck },
    );
  });

  test("turned off: the checks leave the user's cpu cgroup", async () => {
    await reload('cpu-fair-share = no');
    const own = v1CgroupOf(host.managerPid(), 'cpu');
    await waitFor(
      "a check in the manager's cpu cgroup",
      () => (lastCheck() === own ? true : undefined),
      {
        describe: lastCheck,
      },
    );
  });
});

/**
 * An outside review (19c, 1): SIGHUPs turning the fair share off and on while a user's
 * daemons respawn, under a memory quota, left a running daemon outside the user's cpu
 * cgroup: each respawn took the quota as applied, and the SIGHUP's work, which had to wait
 * for the memory limit, found itself out of date and moved nothing, saying nothing.
 */
describe('the fair share turned off and on by SIGHUP while daemons respawn', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{alice}\n[limits]\n{alice}: memory=1G\n';
  const settings = 'stable-uptime = 0s\ncooldown-max = 1s';
  after(() => host.cleanup());

  test('each time moves the running daemon where the last SIGHUP says', async () => {
    host.writeMaster(master, settings);
    const user = host.user('alice').name;
    host.writeDaemon('alice', 'keep', 'start=exec sleep 6800041\n');
    for (let i = 0; i < 6; i++) host.writeDaemon('alice', `flap${i}`, 'start=exec sleep 0.02\n');
    await host.startManager();
    const ownCpu = v1CgroupOf(host.managerPid(), 'cpu');
    const { pid } = await host.waitForDaemon('alice', 'alice/keep', (d) => d.pid > 0, 'to run');
    const placed = (what: string, where: (cpu: string) => boolean) =>
      waitFor(what, () => (where(v1CgroupOf(pid, 'cpu')) ? true : undefined), {
        describe: () =>
          `pid ${pid} in cpu:${v1CgroupOf(pid, 'cpu')}\n${host.managerLog.slice(-3000)}`,
      });
    await placed("in the user's cpu cgroup", (cpu) => inUsers(user).test(cpu));
    for (let round = 0; round < 3; round++) {
      await host.reload(master, `${settings}\ncpu-fair-share = no`);
      await placed("out of the user's cpu cgroup", (cpu) => cpu === ownCpu);
      await host.reload(master, `${settings}\ncpu-fair-share = yes`);
      await placed("in the user's cpu cgroup again", (cpu) => inUsers(user).test(cpu));
    }
    assert.equal((await host.status('alice')).find((d) => d.name === 'keep')?.pid, pid);
  });
});

/**
 * An outside review (19c, 4): `cpu-fair-share = no` set while no manager ran was not
 * applied to the daemons the next manager took over (a quota set meanwhile was): they
 * stayed in the user's cpu cgroup until a SIGHUP.
 */
describe('cpu-fair-share = no set while no manager ran', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test("takes the daemons taken over out of the user's cpu cgroup", async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    const user = host.user('alice').name;
    host.writeDaemon('alice', 'keep', 'start=exec sleep 6800051\n');
    await host.startManager();
    const ownCpu = v1CgroupOf(host.managerPid(), 'cpu');
    const { pid } = await host.waitForDaemon('alice', 'alice/keep', (d) => d.pid > 0, 'to run');
    await waitFor("in the user's cpu cgroup", () =>
      inUsers(user).test(v1CgroupOf(pid, 'cpu')) ? true : undefined,
    );
    await host.killManager();
    host.writeMaster('[can_run_as]\n{alice}\n', 'cpu-fair-share = no');
    await host.startManager();
    await waitFor("out of the user's cpu cgroup", () =>
      v1CgroupOf(pid, 'cpu') === ownCpu ? true : undefined,
    );
    assert.equal((await host.status('alice')).find((d) => d.name === 'keep')?.pid, pid);
  });
});
