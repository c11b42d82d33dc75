import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const TALKER = 'start=while :; do echo tick; sleep 0.2; done\noutput=log\n';

/** The file `suffix` of a daemon's log journal in the state directory (see native/log_journal.c). */
const journalOf = (host: TestHost, id: string, suffix = 'journal'): string =>
  join(host.dir, 'state', 'log-journals', `${encodeURIComponent(host.id(id))}.${suffix}`);

/** A host for a describe of its own: its manager stopped and its sandbox removed after. */
function ownHost(): TestHost {
  const host = new TestHost();
  after(async () => {
    await host.stopManager().catch(() => undefined);
    await host.cleanup();
  });
  return host;
}

/**
 * Each daemon whose output is logged has a journal in the state directory (see
 * native/log_journal.c). Those of daemons gone for good piled up there: a config deleted,
 * a user taken out of the master config. One whose config merely fails to parse is kept,
 * and so is its journal.
 */
describe('the log journals of daemons gone', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  // Its journal and the record of the file its pump writes (native/log_place.c).
  const hasJournal = (id: string): boolean =>
    ['journal', 'file'].every((suffix) => existsSync(journalOf(host, id, suffix)));
  const hasNoJournal = (id: string): boolean =>
    ['journal', 'file'].every((suffix) => !existsSync(journalOf(host, id, suffix)));
  const waitForJournal = (id: string, there: boolean): Promise<true> =>
    waitFor(`the journal of ${id} to be ${there ? 'there' : 'gone'}`, () =>
      (there ? hasJournal(id) : hasNoJournal(id)) ? true : undefined,
    );

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    host.writeDaemon('alice', 'gone', TALKER);
    host.writeDaemon('alice', 'broken', TALKER);
    host.writeDaemon('bob', 'web', TALKER);
    await host.startManager();
    for (const id of ['alice/gone', 'alice/broken', 'bob/web']) {
      await host.waitForDaemon('root', id, (d) => d.state === 'running', 'to run');
      await waitForJournal(id, true);
    }
  });
  after(() => host.cleanup());

  test('a daemon whose config was deleted: its journal goes once it is stopped and forgotten', async () => {
    rmSync(host.daemonFile('alice', 'gone'));
    const rescan = await host.dmctl('alice', 'rescan');
    assert.match(
      rescan.stdout,
      /removed: \S+\/gone \(its file is gone; a run of it goes on until stopped, then it is forgotten\)/,
      rescan.stdout + rescan.stderr,
    );
    // It runs on until stopped (as in the original), its journal with it.
    assert.ok(hasJournal('alice/gone'), 'kept while it runs');
    assert.equal((await host.dmctl('alice', 'gone', 'stop')).code, 0);
    await waitFor('alice/gone to be forgotten', () =>
      host.managerLog.includes(
        `${host.id('alice/gone')}: config file gone and daemon stopped; forgotten`,
      )
        ? true
        : undefined,
    );
    await waitForJournal('alice/gone', false);
  });

  test('a daemon whose config no longer parses is kept, and its journal', async () => {
    writeFileSync(host.daemonFile('alice', 'broken'), 'start=\nno such key=1\n');
    await host.dmctl('alice', 'rescan');
    const problems = await host.dmctl('alice', 'problems');
    assert.match(problems.stdout, /broken\.conf/, problems.stdout);
    const [row] = (await host.status('root')).filter((d) => d.id === host.id('alice/broken'));
    assert.equal(row?.state, 'running');
    assert.ok(hasJournal('alice/broken'));
  });

  test('the daemons of a user taken out of the master config: their journals go', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor(
      'bob/web to be forgotten',
      () =>
        host.managerLog
          .slice(from)
          .includes(
            `${host.id('bob/web')}: stopped, its owner no longer allowed to run daemons; forgotten`,
          )
          ? true
          : undefined,
      { describe: () => host.managerLog.slice(from) },
    );
    await waitForJournal('bob/web', false);
    assert.ok(hasJournal('alice/broken'), "alice's kept daemon keeps its journal");
  });

  test('a daemon whose config was deleted while no manager ran: its journal goes at the next start', async () => {
    host.writeDaemon('alice', 'offline', TALKER);
    await host.dmctl('alice', 'rescan');
    await host.waitForDaemon('root', 'alice/offline', (d) => d.state === 'running', 'to run');
    await waitForJournal('alice/offline', true);
    await host.stopManager();
    rmSync(host.daemonFile('alice', 'offline'));
    assert.ok(hasJournal('alice/offline'), 'left by the manager stopped');
    const from = host.managerLog.length;
    await host.startManager();
    await waitForJournal('alice/offline', false);
    assert.match(
      host.managerLog.slice(from),
      /removed the log journals of 1 daemons gone while no manager ran/,
    );
    assert.ok(hasJournal('alice/broken'), "alice's kept daemon keeps its journal");
  });

  // Outside review 19c, 3: a survivor of a daemon deleted while no manager ran was stopped
  // by the next manager, and its journal stayed until the start after that.
  test('a daemon deleted while no manager ran, its run still alive: its journal goes once that run is stopped', async () => {
    host.writeDaemon('alice', 'survivor', TALKER);
    await host.dmctl('alice', 'rescan');
    await host.waitForDaemon('root', 'alice/survivor', (d) => d.state === 'running', 'to run');
    await waitForJournal('alice/survivor', true);
    await host.killManager();
    rmSync(host.daemonFile('alice', 'survivor'));
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('the survivor to be stopped', () =>
      /survivor: no config claims it any more/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    await waitForJournal('alice/survivor', false);
    assert.ok(hasJournal('alice/broken'), "alice's kept daemon keeps its journal");
  });
});

/**
 * An outside review (54b, F1, High on a small state-dir): a daemon with time stamps that
 * wrote a burst and paused kept up to some 325 KB of journal in the state directory for as
 * long as it ran; 270 such daemons of one user filled a 30 MB state-dir, and another
 * user's stop could not be saved. A journal is emptied once the pipe has nothing waiting.
 */
describe('the log journal of a daemon that wrote a burst and paused', {
  skip: !root && 'needs root',
}, () => {
  const host = ownHost();

  // With time stamps; and with a small log_max_size, the journal used near each rotation
  // (an outside review, 55b, F2: 24-144 KB kept after a burst with log_max_size=1K).
  for (const [name, options, sleep] of [
    ['stamped', 'log_timestamps=yes\n', 6800321],
    ['small', 'log_max_size=1K\n', 6800322],
  ] as const)
    test(`takes a few KiB of the state directory, not the burst (${options.trim()})`, async () => {
      // 10 x 64 KiB of 64-byte lines at once, then nothing.
      const burst = `yes 123456789012345678901234567890123456789012345678901234567890123 | head -c 655360; echo done; exec sleep ${sleep}`;
      host.writeMaster('[can_run_as]\n{alice}\n');
      host.writeDaemon('alice', name, `start=${burst}\noutput=log\n${options}`);
      if (host.managerProcess() === undefined) await host.startManager();
      else await host.dmctl('alice', 'rescan');
      const log = join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
      await waitFor('the burst in the log', () =>
        existsSync(log) && readFileSync(log, 'utf8').includes('done\n') ? true : undefined,
      );
      const journal = journalOf(host, `alice/${name}`);
      await waitFor(
        'the journal emptied',
        () => (statSync(journal).size <= 16 * 1024 ? true : undefined),
        { timeoutMs: 5_000, describe: () => `${statSync(journal).size} bytes` },
      );
    });
});

/**
 * An outside review (56b, F2, High on a small state-dir, 3 of 3): once the state directory
 * was full, a journal that held chunks could take no more, the chunks after went to the
 * log without it, and the journal was emptied only after a chunk that went through it:
 * 31-32 MB of journals of drained pipes stayed for 2-10 minutes, every save failed and
 * every user's start and stop was told a restart would undo it. A journal is emptied once
 * the pipe has nothing waiting, whichever way the last chunk went.
 */
describe('the log journal of a burst that filled the state directory', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const stateDir = join(host.dir, 'state');
  let mounted = false;
  after(async () => {
    await host.stopManager().catch(() => undefined);
    if (mounted) execFileSync('umount', ['-l', stateDir]);
    await host.cleanup();
  });

  test('is emptied once the pipe is drained, the directory still full', async () => {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', stateDir]);
    mounted = true;
    host.writeMaster('[can_run_as]\n{alice}\n');
    // Its pipe grown to 1 MiB and filled at once (F_SETPIPE_SZ is 1031), with time stamps:
    // every chunk goes through the journal while there is room.
    const burst =
      "import fcntl, sys, time; fcntl.fcntl(1, 1031, 1 << 20); sys.stdout.write(('x' * 99 + '\\n') * 10000 + 'done\\n'); sys.stdout.flush(); time.sleep(6800393)";
    host.writeDaemon(
      'alice',
      'burst',
      `start=exec python3 -c "${burst}"\noutput=log\nlog_timestamps=yes\nautostart=no\n`,
    );
    await host.startManager();
    // 256 KiB left: the journal takes what fits, and the chunks after go without it.
    const { bavail, bsize } = statfsSync(stateDir);
    writeFileSync(join(stateDir, 'ballast'), Buffer.alloc(Math.max(0, (bavail - 64) * bsize)));
    const left = statfsSync(stateDir);
    assert.ok(left.bavail * left.bsize <= 256 * 1024, 'less room than the burst takes');
    assert.equal((await host.dmctl('alice', 'start', 'burst')).code, 0);
    const log = join(host.user('alice').home, '.daemon-manager/logs/burst.log');
    await waitFor('the burst in the log', () =>
      existsSync(log) && readFileSync(log, 'utf8').includes('done\n') ? true : undefined,
    );
    const journal = journalOf(host, 'alice/burst');
    await waitFor(
      'the journal emptied',
      () => (statSync(journal).size <= 16 * 1024 ? true : undefined),
      { timeoutMs: 5_000, describe: () => `${statSync(journal).size} bytes` },
    );
  });
});

/**
 * An outside review (56b, F1, High on a small state-dir, 8 of 9 runs): `max-daemons` did
 * not bound the journals. Tasks that grow their pipe to 1 MiB, fill it and exit are not
 * counted, while the pump drains their backlogs through their journals, up to 324 KiB
 * each: 20-32 MB with `max-daemons=3`, a 32 MB state-dir filled. An owner's journals hold
 * at most 1 MiB together, and a chunk under way.
 */
describe('the log journals of one owner’s many backlogs', { skip: !root && 'needs root' }, () => {
  const host = ownHost();

  test('hold at most 1 MiB together, and a chunk being written', async () => {
    const tasks = 8;
    host.writeMaster('[can_run_as]\n{alice}\n');
    // Its pipe grown to 1 MiB (F_SETPIPE_SZ is 1031), 400 KB written at once; then it
    // exits. Rotated each KiB, the backlog is drained slowly, through the journal.
    const fill =
      "import fcntl, sys; fcntl.fcntl(1, 1031, 1 << 20); sys.stdout.write(('x' * 99 + '\\n') * 4000 + 'done\\n')";
    for (let task = 0; task < tasks; task++)
      host.writeDaemon(
        'alice',
        `fill${task}`,
        `start=exec python3 -c "${fill}"\noutput=log\nlog_timestamps=yes\nlog_max_size=1K\nrestart=no\n`,
      );
    const held = (): number => {
      let total = 0;
      for (let task = 0; task < tasks; task++) {
        const path = journalOf(host, `alice/fill${task}`);
        if (existsSync(path)) total += statSync(path).size;
      }
      return total;
    };
    let most = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, held());
    }, 5);
    try {
      await host.startManager();
      const logs = join(host.user('alice').home, '.daemon-manager/logs');
      await waitFor(
        'every backlog in its log',
        () => {
          most = Math.max(most, held());
          for (let task = 0; task < tasks; task++) {
            const log = join(logs, `fill${task}.log`);
            if (!existsSync(log) || !readFileSync(log, 'utf8').includes('done\n')) return undefined;
          }
          return true;
        },
        { timeoutMs: 60_000 },
      );
    } finally {
      clearInterval(sampler);
    }
    // A chunk is 64 KiB and its record's head 128 bytes; two may be under way (the pump's,
    // and one on a thread it moved on from, a call past its deadline).
    assert.ok(most <= 1024 * 1024 + 2 * (64 * 1024 + 128), `${most} bytes of journals at most`);
    assert.ok(most > 0, 'the backlogs went through the journals');
  });
});

/**
 * An outside review (58a): after each kill -9 of the manager, a user made the logs of its
 * daemons unopenable; their journals, full of chunks done, were emptied only once their
 * pipe was attached again, which waits for the log: not counted in the next manager's bound,
 * each new generation of that user's daemons added a MiB. A manager empties every journal
 * of its chunks done as it starts, keeping only the chunk a killed pump was writing.
 */
describe('the log journal a killed manager left, its log unopenable at the next start', {
  skip: !root && 'needs root',
}, () => {
  const host = ownHost();

  test('keeps at most the chunk under way', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    // Its pipe grown to 1 MiB (F_SETPIPE_SZ is 1031), 400 KB written at once every 1.5 s,
    // rotated each KiB: drained through the journal, each burst in about a tenth of a second.
    const fill =
      "import fcntl, sys, time; fcntl.fcntl(1, 1031, 1 << 20); [(sys.stdout.write(('x' * 99 + '\\n') * 4000), sys.stdout.flush(), time.sleep(1.5)) for _ in iter(int, 1)]";
    host.writeDaemon(
      'alice',
      'fill',
      `start=exec python3 -c "${fill}"\noutput=log\nlog_timestamps=yes\nlog_max_size=1K\n`,
    );
    const journal = journalOf(host, 'alice/fill');
    const size = (): number => (existsSync(journal) ? statSync(journal).size : 0);
    await host.startManager();
    // A burst is drained faster than a look at the journal may come: the manager is frozen
    // once one is seen under way, and let go again if it was done by then.
    const pid = host.managerPid();
    await waitFor(
      'the manager frozen, its journal holding chunks',
      () => {
        if (size() <= 128 * 1024) return undefined;
        process.kill(pid, 'SIGSTOP');
        if (size() > 64 * 1024 + 128) return true;
        process.kill(pid, 'SIGCONT');
        return undefined;
      },
      { timeoutMs: 30_000 },
    );
    await host.killManager();
    const left = size();
    assert.ok(left > 64 * 1024 + 128, `${left} bytes left: more than a chunk`);
    // Its logs' directory, not its log: rotated each KiB, the log may be between names.
    const logs = join(host.user('alice').home, '.daemon-manager/logs');
    const mode = statSync(logs).mode & 0o7777;
    chmodSync(logs, 0);
    try {
      await host.startManager();
      assert.ok(size() <= 64 * 1024 + 128, `${size()} bytes of journal (${left} at the kill)`);
    } finally {
      chmodSync(logs, mode);
    }
  });
});
