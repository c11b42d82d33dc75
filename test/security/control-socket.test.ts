import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runManagerExpectingExit, spawnCollecting } from '../helpers/cli.ts';
import { DatagramReceiver } from '../helpers/datagrams.ts';
import { DAEMON_MANAGER, run, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  assertManagerAnswers,
  attack,
  CLIENT,
  clientOutcome,
  NODE,
  sendAs,
  socketOf,
  watchPaths,
} from './support.ts';

const skip = process.getuid?.() !== 0 && 'needs root';

describe('the control sockets refuse whoever they do not belong to', { skip }, () => {
  const host = new TestHost();
  const webPid = async (): Promise<number | undefined> =>
    (await host.status('root')).find((daemon) => daemon.id === host.id('alice/web'))?.pid;

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100001\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
  });
  after(() => host.cleanup());

  test("mallory cannot connect to alice's socket", async () => {
    const pid = await webPid();
    const result = await attack(host, 'mallory', 'connect', socketOf(host, 'alice'));
    assert.deepEqual(clientOutcome(result.stdout), { connected: false, code: 'EACCES' });
    assert.equal(await webPid(), pid);
  });

  test("mallory cannot connect to root's socket", async () => {
    const result = await attack(host, 'mallory', 'connect', socketOf(host, 'root'));
    assert.deepEqual(clientOutcome(result.stdout), { connected: false, code: 'EACCES' });
  });

  test('each socket is owned by its user with mode 0600, in a directory only root writes', () => {
    const dir = statSync(join(host.dir, 'run'));
    assert.equal(dir.uid, 0);
    assert.equal(dir.mode & 0o022, 0, 'socket-dir is writable by root alone');
    for (const short of ['root', 'alice', 'mallory']) {
      const socket = statSync(socketOf(host, short));
      assert.equal(socket.uid, short === 'root' ? 0 : host.user(short).uid, short);
      assert.equal(socket.mode & 0o777, 0o600, short);
    }
  });

  test('an identity written into the request is ignored: the socket says who asks', async () => {
    const pid = await webPid();
    const forged = {
      command: 'stop',
      id: host.id('alice/web'),
      user: host.user('alice').name,
      caller: 'root',
      uid: 0,
    };
    const result = await attack(
      host,
      'mallory',
      'send',
      socketOf(host, 'mallory'),
      Buffer.from(`${JSON.stringify(forged)}\n`).toString('base64'),
    );
    const reply = JSON.parse(String(clientOutcome(result.stdout).reply)) as Record<string, unknown>;
    assert.equal(reply.ok, false);
    assert.match(String(reply.error), /not allowed/);
    const status = await attack(
      host,
      'mallory',
      'send',
      socketOf(host, 'mallory'),
      Buffer.from('{"command":"status","user":"root","caller":"root"}\n').toString('base64'),
    );
    assert.deepEqual(JSON.parse(String(clientOutcome(status.stdout).reply)).daemons, []);
    assert.equal(await webPid(), pid);
  });

  test('racing the start-up, mallory never connects to the sockets of alice or root', async () => {
    await host.stopManager();
    const racers = ['alice', 'root'].map((short) =>
      spawnCollecting([
        'runuser',
        '-u',
        host.user('mallory').name,
        '--',
        NODE,
        CLIENT,
        'race',
        socketOf(host, short),
      ]),
    );
    try {
      for (const racer of racers)
        await waitFor('the racer to start', () =>
          racer.output().includes('racing') ? true : undefined,
        );
      await host.startManager();
      await host.waitForDaemon('alice', 'alice/web', (d) => d.state === 'running', 'to run');
      for (const racer of racers) {
        racer.child.kill('SIGTERM');
        const result = await waitFor('the racer to report', () =>
          racer.output().includes('attempts') ? racer.output() : undefined,
        );
        const { attempts, successes } = clientOutcome(result);
        assert.ok(Number(attempts) > 0, result);
        assert.equal(successes, 0, result);
      }
    } finally {
      for (const racer of racers) await racer.stop();
    }
    await assertManagerAnswers(host, 'alice');
  });
});

describe('hostile clients cannot stop the manager from answering others', { skip }, () => {
  const host = new TestHost();
  const mallorySocket = (): string => socketOf(host, 'mallory');
  const send = (bytes: Buffer): Promise<Record<string, unknown>> => sendAs(host, 'mallory', bytes);
  const openDescriptors = (): number => readdirSync(`/proc/${host.managerPid()}/fd`).length;
  let baseline = 0;

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100002\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
    baseline = openDescriptors();
  });
  after(() => host.cleanup());

  /** After an attack: the manager answers everyone and holds no more descriptors than before. */
  async function assertRecovered(): Promise<void> {
    await assertManagerAnswers(host, 'alice', 'mallory');
    await waitFor(
      'the manager to close the attack connections',
      () => (openDescriptors() <= baseline ? true : undefined),
      { describe: () => `${openDescriptors()} descriptors, ${baseline} before`, timeoutMs: 30_000 },
    );
  }

  test('10 MB without a newline is refused after 8 KiB while alice is answered', async () => {
    const [flood, alice] = await Promise.all([
      attack(host, 'mallory', 'flood', mallorySocket(), String(10 * 1024 * 1024)),
      host.dmctl('alice', 'status'),
    ]);
    assert.equal(alice.code, 0, alice.stderr);
    const reply = JSON.parse(String(clientOutcome(flood.stdout).reply)) as Record<string, unknown>;
    assert.deepEqual(reply, { ok: false, error: 'request longer than 8192 bytes' });
    await assertRecovered();
  });

  test('half a request and silence: alice is answered meanwhile, and the manager hangs up', async () => {
    const hanging = spawnCollecting([
      'runuser',
      '-u',
      host.user('mallory').name,
      '--',
      NODE,
      CLIENT,
      'hang',
      mallorySocket(),
    ]);
    try {
      await waitFor('the client to hold its connection', () =>
        hanging.output().includes('holding') ? true : undefined,
      );
      const alice = await host.dmctl('alice', 'status');
      assert.equal(alice.code, 0, alice.stderr);
      assert.ok(!hanging.output().includes('closed'), 'alice was answered while mallory hung');
      await waitFor(
        'the manager to drop the silent connection',
        () => (hanging.output().includes('closed by the manager') ? true : undefined),
        { timeoutMs: 60_000, describe: () => hanging.output() },
      );
    } finally {
      await hanging.stop();
    }
    await assertRecovered();
  });

  test('1,000 connections at once: alice and root are answered, and none is kept afterwards', async () => {
    const flood = spawnCollecting([
      'runuser',
      '-u',
      host.user('mallory').name,
      '--',
      NODE,
      CLIENT,
      'many',
      mallorySocket(),
      '1000',
    ]);
    try {
      await waitFor(
        'the client to open its connections',
        () => (/holding \d+ of 1000/.test(flood.output()) ? true : undefined),
        { describe: () => flood.output() },
      );
      for (const short of ['alice', 'root']) {
        const result = await host.dmctl(short, 'status');
        assert.equal(result.code, 0, `${short}: ${result.stderr}`);
      }
      assert.ok(flood.child.exitCode === null, 'the connections were still held');
    } finally {
      await flood.stop();
    }
    await assertRecovered();
  });

  test('invalid UTF-8 and invalid JSON get an error, never a crash', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x0a]), 'request is not valid JSON'],
      [Buffer.from('{"command":"stop","id":"x"\n'), 'request is not valid JSON'],
      [Buffer.from('[]\n'), 'request must be a JSON object'],
      [Buffer.from('null\n'), 'request must be a JSON object'],
      [
        Buffer.from('{"command":"stop","id":{"length":1}}\n'),
        'id must be a string of at most 300 characters',
      ],
      [Buffer.from('{"command":"__proto__"}\n'), 'unknown command'],
      [
        Buffer.from('{"command":"kill","id":"x","signal":["KILL"]}\n'),
        'signal must be a short string',
      ],
      [
        Buffer.from(`{"command":"status","pad":"${'\u00e9'.repeat(20_000)}"}\n`),
        'request longer than',
      ],
    ];
    for (const [bytes, error] of cases) {
      const reply = await send(bytes);
      assert.equal(reply.ok, false, bytes.toString());
      assert.ok(String(reply.error).startsWith(error), `${bytes.toString()}: ${reply.error}`);
    }
    await assertRecovered();
  });

  test('disconnecting before the reply, again and again, leaves the manager answering', async () => {
    const before = host.managerLog.length;
    for (let round = 0; round < 50; round++) {
      const result = await attack(host, 'mallory', 'bail', mallorySocket());
      assert.equal(clientOutcome(result.stdout).connected, true, result.stderr);
    }
    await assertRecovered();
    assert.doesNotMatch(host.managerLog.slice(before), /unexpected|EPIPE|internal error/);
  });
});

describe('a socket or state directory planted before start-up is refused', { skip }, () => {
  const host = new TestHost();
  let publicDir = '';

  before(() => {
    host.user('alice');
    host.user('mallory');
    // A world-writable parent (like /tmp), where mallory can create the path first.
    publicDir = join(host.dir, 'public');
    mkdirSync(publicDir);
    chmodSync(publicDir, 0o1777);
  });
  after(() => host.cleanup());

  /** Writes a master config whose socket-dir or state-dir is `path`. */
  function configure(key: 'socket-dir' | 'state-dir', path: string): void {
    const other = key === 'socket-dir' ? 'state-dir' : 'socket-dir';
    host.writeMaster(
      '[can_run_as]\n{alice}\n{mallory}\n',
      `${key} = ${path}\n${other} = ${join(host.dir, other)}`,
    );
  }

  for (const key of ['socket-dir', 'state-dir'] as const) {
    test(`a ${key} that mallory created first is refused, and nothing is put in it`, async () => {
      const mallory = host.user('mallory');
      const planted = join(publicDir, `${key}-own`);
      mkdirSync(planted, { mode: 0o777 });
      chownSync(planted, mallory.uid, mallory.gid);
      configure(key, planted);
      const watched = watchPaths([planted]);
      const result = await runManagerExpectingExit(host);
      assert.notEqual(result.code, 0);
      assert.notEqual(result.code, -1, 'the manager refused instead of starting');
      assert.match(result.stderr, new RegExp(`${planted} is owned by uid ${mallory.uid}`));
      watched.unchanged();
    });

    test(`a ${key} that mallory planted as a symlink to her own directory is refused`, async () => {
      const mallory = host.user('mallory');
      const target = join(publicDir, `${key}-target`);
      mkdirSync(target, { mode: 0o777 });
      chownSync(target, mallory.uid, mallory.gid);
      const planted = join(publicDir, `${key}-link`);
      symlinkSync(target, planted);
      configure(key, planted);
      const watched = watchPaths([planted, target]);
      const result = await runManagerExpectingExit(host);
      assert.notEqual(result.code, 0);
      assert.notEqual(result.code, -1, 'the manager refused instead of starting');
      assert.match(result.stderr, /is a symbolic link; refused/);
      watched.unchanged();
    });
  }

  // An outside review (36b, F5): a state-dir (or root's daemons' log directory) below a
  // directory of mallory's was used; she moved it away, put a link in place of a
  // temporary file, and root wrote the state into a file of her choosing.
  for (const key of ['state-dir', 'daemon-path-log-root', 'socket-dir'] as const)
    test(`a ${key} below a directory mallory may move is refused, by --check too`, async () => {
      const mallory = host.user('mallory');
      const parent = join(publicDir, `${key}-parent`);
      mkdirSync(parent, { mode: 0o777 });
      chownSync(parent, mallory.uid, mallory.gid);
      const path = join(parent, 'below');
      host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n', `${key} = ${path}`);
      const refusal = new RegExp(
        `${key} ${path}: ${parent} is not root's \\(uid ${mallory.uid}\\)`,
      );
      const check = await run([DAEMON_MANAGER, '--check', '--config', host.configFile], []);
      assert.notEqual(check.code, 0);
      assert.match(check.stdout + check.stderr, refusal);
      const result = await runManagerExpectingExit(host);
      assert.notEqual(result.code, 0);
      assert.notEqual(result.code, -1, 'the manager refused instead of starting');
      assert.match(result.stderr, refusal);
      assert.equal(existsSync(path), false, 'nothing made there');
    });

  // An outside review (38a, F4): a state-dir reached through a link of mallory's to a
  // directory of root's was accepted; she pointed the link at her own directory, and the
  // manager wrote its state there.
  test("a state-dir reached through mallory's link to root's directory is refused", async () => {
    const mallory = host.user('mallory');
    const roots = join(host.dir, 'roots-own');
    mkdirSync(roots, { mode: 0o755 });
    const link = join(publicDir, 'mallory-link');
    symlinkSync(roots, link);
    lchownSync(link, mallory.uid, mallory.gid);
    const path = join(link, 'state');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n', `state-dir = ${path}`);
    const refusal = new RegExp(`state-dir ${path}: ${link} is not root's \\(uid ${mallory.uid}\\)`);
    const check = await run([DAEMON_MANAGER, '--check', '--config', host.configFile], []);
    assert.match(check.stdout + check.stderr, refusal);
    const result = await runManagerExpectingExit(host);
    assert.notEqual(result.code, -1, 'the manager refused instead of starting');
    assert.match(result.stderr, refusal);
    assert.equal(existsSync(join(roots, 'state')), false, 'nothing made there');
  });

  // An outside review (39a, F4, F6): the pidfile (replaced at each start and upgrade) and
  // the syslog socket were not judged at all: through a link of hers, mallory chose the
  // directory where root's manager replaced a file, and who received every user's lines.
  for (const option of ['--pidfile', '--syslog'] as const)
    test(`a ${option} below a directory mallory may move is refused`, async () => {
      const mallory = host.user('mallory');
      const parent = join(publicDir, `${option.slice(2)}-parent`);
      mkdirSync(parent, { mode: 0o777 });
      chownSync(parent, mallory.uid, mallory.gid);
      const path = join(parent, option === '--pidfile' ? 'manager.pid' : 'log.sock');
      host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
      const result = await runManagerExpectingExit(host, 15_000, [`${option}=${path}`]);
      assert.notEqual(result.code, 0);
      assert.notEqual(result.code, -1, 'the manager refused instead of starting');
      assert.match(
        result.stderr,
        new RegExp(`${option} ${path}: ${parent} is not root's \\(uid ${mallory.uid}\\)`),
      );
      assert.equal(existsSync(path), false, 'nothing made there');
    });

  // The next (42b, Low): a pidfile in a directory everyone may make names in (root's and
  // sticky, so the directories passed): while no manager ran, mallory could put any pid
  // there for root's logrotate line to signal.
  test('a --pidfile in a directory others may write is refused', async () => {
    const path = join(publicDir, 'manager.pid');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    const result = await runManagerExpectingExit(host, 15_000, [`--pidfile=${path}`]);
    assert.notEqual(result.code, 0);
    assert.notEqual(result.code, -1, 'the manager refused instead of starting');
    assert.match(
      result.stderr,
      new RegExp(`cannot write the pidfile ${path}: ${publicDir} may be written by others`),
    );
    assert.equal(existsSync(path), false, 'nothing made there');
  });

  // The next (42b, F4): a syslog socket mallory bound in a directory everyone may make names
  // in (root's and sticky, so the directories passed) got every line of root's manager.
  test("a --syslog socket of mallory's is refused, and she receives nothing", async () => {
    const mallory = host.user('mallory');
    const receiver = await DatagramReceiver.open(join(publicDir, 'mallory-log.sock'));
    try {
      chownSync(receiver.path, mallory.uid, mallory.gid);
      host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
      const result = await runManagerExpectingExit(host, 15_000, [`--syslog=${receiver.path}`]);
      assert.notEqual(result.code, 0);
      assert.notEqual(result.code, -1, 'the manager refused instead of starting');
      assert.match(
        result.stderr,
        new RegExp(
          `--syslog ${receiver.path}: ${receiver.path} is a socket of uid ${mallory.uid}'s`,
        ),
      );
      assert.deepEqual(receiver.messages(), []);
    } finally {
      receiver.close();
    }
  });
});

/**
 * An outside review (39a, F3): a SIGHUP applied root's daemon and log directories below
 * a directory of mallory's, where a start refuses them: root's manager made its daemons'
 * logs there, and wrote them where her link pointed later. The reload is refused.
 */
describe("root's directories changed by a reload", { skip }, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  /** The manager running, with root's daemon r1 logging to a file. */
  const running = async (): Promise<void> => {
    if (host.managerProcess() !== undefined) return;
    host.writeMaster('[can_run_as]\n{mallory}\n');
    const rootDaemons = join(host.dir, 'root-daemons');
    mkdirSync(rootDaemons, { recursive: true });
    writeFileSync(join(rootDaemons, 'r1.conf'), 'start=exec sleep 6907001\noutput=log\n');
    chmodSync(join(rootDaemons, 'r1.conf'), 0o600);
    await host.startManager();
    await waitFor('root/r1 to run', async () =>
      (await host.status('root')).some((d) => d.id === 'root/r1' && d.pid > 0) ? true : undefined,
    );
  };

  for (const key of ['daemon-path-log-root', 'daemon-path-daemon-root'] as const)
    test(`a ${key} below a directory mallory may move is refused, the old one kept`, async () => {
      const mallory = host.user('mallory');
      await running();
      const parent = join(host.dir, `${key}-mallory`);
      mkdirSync(parent, { mode: 0o755 });
      chownSync(parent, mallory.uid, mallory.gid);
      const path = join(parent, 'x');
      const from = host.managerLog.length;
      host.writeMaster('[can_run_as]\n{mallory}\n', `${key} = ${path}`);
      process.kill(host.managerPid(), 'SIGHUP');
      await waitFor('the reload refused', () =>
        /SIGHUP: master config not reloaded, keeping the old one/.test(host.managerLog.slice(from))
          ? true
          : undefined,
      );
      assert.match(
        host.managerLog.slice(from),
        new RegExp(`${key} ${path}: ${parent} is not root's \\(uid ${mallory.uid}\\)`),
      );
      assert.equal((await host.dmctl('root', 'root/r1', 'restart')).code, 0);
      assert.equal(existsSync(path), false, 'nothing made there');
    });

  // The next (42b, F3): a reload to a log directory below one not there yet, in a directory
  // everyone may make names in, while mallory makes and removes that one in a loop: judged
  // (nothing there) then made by the rescan, root's log directory was made in hers (6 of
  // 20 reloads), and root's daemons' logs written where her link pointed later.
  test('a daemon-path-log-root made while mallory races for its parent is never made in hers', async () => {
    const mallory = host.user('mallory');
    await running();
    const publicDir = join(host.dir, 'public');
    mkdirSync(publicDir, { mode: 0o1777 });
    chmodSync(publicDir, 0o1777);
    const raced = join(publicDir, 'raced');
    const racer = spawnCollecting([
      'runuser',
      '-u',
      mallory.name,
      '--',
      'sh',
      '-c',
      `while :; do mkdir ${raced} 2>/dev/null; rmdir ${raced} 2>/dev/null; done`,
    ]);
    try {
      for (let round = 0; round < 20; round++) {
        const from = host.managerLog.length;
        host.writeMaster('[can_run_as]\n{mallory}\n', `daemon-path-log-root = ${raced}/logs`);
        process.kill(host.managerPid(), 'SIGHUP');
        const said = await waitFor(
          `reload ${round} taken or refused`,
          () =>
            /SIGHUP: (reloading|master config not reloaded)/.exec(host.managerLog.slice(from))?.[1],
        );
        // Its rescan, and what it made, is done before root's next one is answered.
        await host.dmctl('root', 'rescan');
        if (said === 'reloading') {
          assert.equal(lstatSync(raced).uid, 0, `round ${round}: ${raced} is not root's`);
          rmSync(raced, { recursive: true, force: true });
        }
        // Back to a directory of root's, for the next round.
        await host.reload('[can_run_as]\n{mallory}\n');
        rmSync(raced, { recursive: true, force: true });
      }
    } finally {
      racer.stop();
    }
  });
});

describe("one user's flood of requests waits its own turn", { skip }, () => {
  const host = new TestHost();

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100003\n');
    // 600 broken files: each of mallory's status replies has 600 rows with a problem.
    for (let index = 0; index < 600; index++)
      host.writeDaemon('mallory', `b${index}`, `start=sleep 1\noutput=${'\u3000'.repeat(100)}\n`);
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
  });
  after(() => host.cleanup());

  test('alice is answered before most of 60 status requests mallory sent first', async () => {
    const answered: string[] = [];
    /** Connects and sends; resolves once sent, with the reply's end to come. */
    const ask = (short: string): Promise<{ replied: Promise<void> }> =>
      new Promise((sent, failed) => {
        const socket = connect(socketOf(host, short));
        socket.once('error', failed);
        socket.resume();
        const replied = new Promise<void>((done) => socket.once('end', () => done()));
        replied.then(() => answered.push(short));
        socket.write('{"command":"status"}\n', () => sent({ replied }));
      });
    // Handled as they came in, every one of mallory's went before alice's.
    const floods = await Promise.all(Array.from({ length: 60 }, () => ask('mallory')));
    const alice = await ask('alice');
    await Promise.all([alice.replied, ...floods.map((flood) => flood.replied)]);
    const position = answered.indexOf('alice');
    assert.ok(position >= 0 && position < 15, `alice answered after ${position} of mallory's`);
  });

  test("in the turn alice is served, she goes before mallory's next", async () => {
    const ask = (short: string): Promise<void> =>
      new Promise((done, failed) => {
        const socket = connect(socketOf(host, short));
        socket.once('error', failed);
        socket.resume();
        socket.once('end', () => done());
        socket.write('{"command":"status"}\n');
      });
    const from = host.managerLog.length;
    const mallory = host.user('mallory').name;
    const floods = Array.from({ length: 30 }, () => ask('mallory'));
    // Mallory's queue is there before alice comes (a few of them answered already).
    await waitFor("mallory's flood to be under way", () =>
      host.managerLog.slice(from).split(`answered ${mallory}'s status`).length > 3
        ? true
        : undefined,
    );
    await Promise.all([ask('alice'), ...floods]);
    const alice = host.user('alice').name;
    const turn = host.managerLog
      .slice(from)
      .split('\n')
      .find((line) => /control: turn \d+: /.test(line) && line.includes(alice));
    assert.ok(turn, 'a turn with alice and mallory waiting');
    assert.match(turn, new RegExp(`control: turn \\d+: ${alice}, ${mallory}$`));
  });
});
