import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  type Dirent,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { cgroupTag, ownCgroupPath, parseMountinfo } from '../../src/process/cgroup.ts';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { isAlive, livePidsOfUid } from './proc.ts';
import { waitFor } from './wait.ts';

export const ROOT_DIR = resolve(import.meta.dirname, '../..');
export const DMCTL = join(ROOT_DIR, 'bin/dmctl');
export const DAEMON_MANAGER = join(ROOT_DIR, 'bin/daemon-manager');
export const FIXTURES = join(ROOT_DIR, 'test/fixtures');

/** The user-name prefixes of the sandboxes of this process (other runs use others). */
export const SANDBOX_PREFIXES = new Set<string>();

/** A real user created for one test file, removed afterwards. */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** How a test's manager is started, beyond its arguments (see TestHost.startManager). */
export interface ManagerSetting {
  readonly wrapper?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * A sandbox for one integration test file: a temporary directory, real users and groups
 * with a random prefix, a master config, a real manager, and the real dmctl run as those
 * users. `cleanup` kills every process of the sandbox's users and removes them, and is
 * safe to call after any failure.
 */
export class TestHost {
  readonly dir: string;
  readonly prefix: string;
  readonly configFile: string;
  private readonly users = new Map<string, TestUser>();
  private readonly groups: string[] = [];
  private manager: ChildProcess | undefined;
  managerLog = '';

  constructor() {
    this.prefix = `dmt${randomBytes(3).toString('hex')}`;
    SANDBOX_PREFIXES.add(this.prefix);
    this.dir = mkdtempSync('/tmp/dm-test-');
    chmodSync(this.dir, 0o755);
    mkdirSync(join(this.dir, 'home'), { mode: 0o755 });
    this.configFile = join(this.dir, 'daemon-manager.conf');
  }

  /**
   * Creates (once) and returns the user called `short` in this sandbox, with a private
   * group of their own, or with `primaryGroupOf`'s group as their primary group (as
   * `useradd -g` makes them).
   */
  user(short: string, options: { primaryGroupOf?: string } = {}): TestUser {
    const existing = this.users.get(short);
    if (existing) return existing;
    const name = `${this.prefix}${short}`;
    const home = join(this.dir, 'home', short);
    const group =
      options.primaryGroupOf === undefined
        ? ['-U']
        : ['-g', String(this.user(options.primaryGroupOf).gid)];
    execFileSync('useradd', ['-M', ...group, '-d', home, '-s', '/bin/sh', name]);
    const uid = Number(execFileSync('id', ['-u', name]).toString());
    const gid = Number(execFileSync('id', ['-g', name]).toString());
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, uid, gid);
    const user = { name, uid, gid, home };
    this.users.set(short, user);
    return user;
  }

  /**
   * Gives the uid of an account a test is about to delete to a second account (`-o`: the
   * uid used twice until then), removed with the sandbox: a uid freed is the next one
   * useradd gives out, maybe to a user of another test file run at the same time, and the
   * cleanup, which kills by uid, killed its processes (and its cleanup the old account's
   * run of this one: seen at a load of 130). Made before the delete: made after it, the
   * uid was taken in between (1 run in 3).
   */
  holdUid(short: string, uid: number): void {
    const name = `${this.prefix}${short}`;
    execFileSync('useradd', ['-M', '-N', '-o', '-u', String(uid), '-d', '/nonexistent', name], {
      stdio: 'ignore',
    });
    this.users.set(short, { name, uid, gid: 100, home: '/nonexistent' });
  }

  /** Creates a group with these members; returns its full name. */
  group(short: string, members: readonly string[]): string {
    const name = `${this.prefix}${short}`;
    execFileSync('groupadd', [name]);
    this.groups.push(name);
    for (const member of members)
      execFileSync('usermod', ['-a', '-G', name, this.user(member).name]);
    return name;
  }

  /** `{alice}` becomes user alice's full name, `{@ops}` group ops's. */
  expand(text: string): string {
    return text.replace(
      /\{(@?)([a-z0-9]+)\}/g,
      (_, at: string, short: string) => `${at}${this.prefix}${short}`,
    );
  }

  /** The master config as written. */
  readMaster(): string {
    return readFileSync(this.configFile, 'utf8');
  }

  /** Writes the master config; `{alice}` stands for user alice's full name, `{@ops}` for a group's. */
  writeMaster(text: string, settings = ''): void {
    const expanded = this.expand(text);
    const base = [
      '[settings]',
      `socket-dir = ${join(this.dir, 'run')}`,
      `state-dir = ${join(this.dir, 'state')}`,
      `daemon-path-daemon-root = ${join(this.dir, 'root-daemons')}`,
      `daemon-path-log-root = ${join(this.dir, 'root-logs')}`,
      'stop-timeout = 5s',
      settings,
      '',
    ].join('\n');
    writeFileSync(this.configFile, base + expanded, { mode: 0o644 });
    chmodSync(this.configFile, 0o644);
  }

  /**
   * Sends SIGUSR2; resolves with where in the log the new manager said it took over.
   * `describe` says what else to show if it never does.
   */
  async upgrade(describe?: () => string): Promise<number> {
    const from = this.managerLog.length;
    process.kill(this.managerPid(), 'SIGUSR2');
    await waitFor(
      'the upgrade to be done',
      () => (/upgrade done: /.test(this.managerLog.slice(from)) ? true : undefined),
      { timeoutMs: 60_000, ...(describe === undefined ? {} : { describe }) },
    );
    return this.managerLog.indexOf('upgrade done: ', from);
  }

  /** kill -9 of the manager now running (after an upgrade, not the process started); waits for its end. */
  async killManager(): Promise<void> {
    const pid = this.managerPid();
    process.kill(pid, 'SIGKILL');
    await waitFor('the manager to die', () => (isAlive(pid) ? undefined : true));
  }

  /** kill -9 of the manager now running and of its keeper: what they held goes with them. */
  async killManagerAndKeeper(): Promise<void> {
    const keeper = this.keeperPid();
    await this.killManager();
    process.kill(keeper, 'SIGKILL');
    await waitFor('the keeper to die', () => (isAlive(keeper) ? undefined : true));
  }

  /** Writes the master config and sends SIGHUP; resolves once the manager is reloading it. */
  async reload(text: string, settings = ''): Promise<void> {
    this.writeMaster(text, settings);
    const from = this.managerLog.length;
    process.kill(this.managerPid(), 'SIGHUP');
    await waitFor('the reload', () =>
      /SIGHUP: reloading/.test(this.managerLog.slice(from)) ? true : undefined,
    );
  }

  /** Path of a user's daemon config file. */
  daemonFile(short: string, name: string): string {
    return join(this.user(short).home, '.daemon-manager/daemons', `${name}.conf`);
  }

  /** Writes a daemon config owned by the user (mode 0644 unless told otherwise). */
  writeDaemon(short: string, name: string, text: string, mode = 0o644): string {
    const user = this.user(short);
    const file = this.daemonFile(short, name);
    this.mkdirAs(user, dirname(file));
    writeFileSync(file, text);
    chownSync(file, user.uid, user.gid);
    chmodSync(file, mode);
    return file;
  }

  /** Creates a directory and its missing parents under the user's home, owned by the user. */
  mkdirAs(user: TestUser, dir: string): void {
    const parts = dir.slice(user.home.length).split('/').filter(Boolean);
    let path = user.home;
    for (const part of parts) {
      path = join(path, part);
      mkdirSync(path, { recursive: true });
      chownSync(path, user.uid, user.gid);
    }
  }

  /**
   * Starts the manager in the foreground and waits until it says it runs. `binary` runs
   * another install (an upgrade test changes its files); a manager started again after a
   * crash is judged by what it says from now on, not by the previous one's lines.
   * `wrapper` is a command that execs the manager (given as its last arguments) in its own
   * pid, `env` more variables for it: a name service of the manager's own, say (see
   * nss-hang.ts).
   */
  async startManager(
    extraArgs: readonly string[] = [],
    binary = DAEMON_MANAGER,
    { wrapper = [], env = {} }: ManagerSetting = {},
  ): Promise<ChildProcess> {
    const from = this.managerLog.length;
    const [file = binary, ...args] = [
      ...wrapper,
      binary,
      '--config',
      this.configFile,
      '--foreground',
      '--verbose',
      ...extraArgs,
    ];
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DM_TEST_SECRET: 'root-secret-value', ...env },
    });
    this.manager = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      this.managerLog += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.managerLog += chunk.toString();
    });
    // An event, however long a loaded machine takes to bring it (a manager that exits
    // instead fails at once): 15 s was not enough at a load of 30-90.
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(
          new Error(`the manager exited (${code ?? signal}) before it ran:\n${this.managerLog}`),
        ),
      ),
    );
    const runs = waitFor(
      'the manager to say it runs',
      () => (/ running, pid /.test(this.managerLog.slice(from)) ? true : undefined),
      {
        timeoutMs: 120_000,
        describe: () => this.managerLog || `exit code ${child.exitCode}`,
      },
    );
    exited.catch(() => {});
    await Promise.race([runs, exited]);
    return child;
  }

  /**
   * Stops the manager with SIGTERM and waits for it to exit: the process this host
   * started (its exit code), or the one that took over from it in an upgrade.
   */
  async stopManager(): Promise<number | null> {
    const child = this.manager;
    const pid = this.managerPid();
    if (child && pid === child.pid) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolveExit) =>
        child.once('exit', (code) => resolveExit(code)),
      );
      child.kill('SIGTERM');
      return exited;
    }
    if (pid === 0 || !isAlive(pid)) return null;
    process.kill(pid, 'SIGTERM');
    await waitFor(`the manager (pid ${pid}) to exit`, () => (isAlive(pid) ? undefined : true), {
      timeoutMs: 60_000,
    });
    return null;
  }

  /** The manager's pid: the last one that said it runs (an upgrade hands over to a new one). */
  managerPid(): number {
    const said = [...this.managerLog.matchAll(/ running, pid (\d+)/g)].at(-1)?.[1];
    return said === undefined ? (this.manager?.pid ?? 0) : Number(said);
  }

  /** The process this host started (not the one an upgrade handed over to). */
  managerProcess(): ChildProcess | undefined {
    return this.manager;
  }

  /** The pid of the manager's keeper (native/keeper/), found by its socket; 0 if none runs. */
  keeperPid(): number {
    const socket = join(this.dir, 'state', 'keeper.sock');
    return this.processesWith(['dm-keeper', socket])[0] ?? 0;
  }

  /** The processes whose command line has `words` one after the other. */
  private processesWith(words: readonly string[]): number[] {
    const found: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const command = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
        const at = command.indexOf(words[0] ?? '');
        if (at >= 0 && words.every((word, index) => command[at + index] === word))
          found.push(Number(entry));
      } catch {
        // Gone meanwhile.
      }
    }
    return found;
  }

  /** Runs the real dmctl as a user of the sandbox ('root' for root). */
  dmctl(short: string, ...args: string[]): Promise<CommandResult> {
    const command =
      short === 'root' ? [DMCTL] : ['runuser', '-u', this.user(short).name, '--', DMCTL];
    return run(command, ['--config', this.configFile, ...args]);
  }

  /**
   * Runs a command as a user of the sandbox, with PATH=/usr/bin:/bin and the variables of
   * `env` (`NAME=value`; a PATH there wins).
   */
  runAs(
    short: string,
    command: readonly string[],
    env: readonly string[] = [],
  ): Promise<CommandResult> {
    const user = this.user(short).name;
    return run(['runuser', '-u', user, '--', 'env', 'PATH=/usr/bin:/bin', ...env, ...command], []);
  }

  /** `dmctl --json status` as a user, parsed. */
  async status(short: string): Promise<DaemonStatus[]> {
    const result = await this.dmctl(short, '--json', 'status');
    if (result.code !== 0) throw new Error(`dmctl status as ${short} failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as DaemonStatus[];
  }

  /** Waits until a daemon's status satisfies `check`, as seen by `short`. */
  waitForDaemon(
    short: string,
    id: string,
    check: (daemon: DaemonStatus) => boolean,
    what: string,
  ): Promise<DaemonStatus> {
    const fullId = this.id(id);
    let last: DaemonStatus | undefined;
    return waitFor(
      `${fullId} ${what}`,
      async () => {
        last = (await this.status(short)).find((daemon) => daemon.id === fullId);
        return last && check(last) ? last : undefined;
      },
      { describe: () => JSON.stringify(last) },
    );
  }

  /** Expands `alice/web` to the full id `dmtXXXXalice/web`. */
  id(short: string): string {
    return short.includes('/') ? `${this.prefix}${short}` : short;
  }

  /** Kills every process of the sandbox's users, removes them, their groups and the directory. */
  async cleanup(): Promise<void> {
    // A manager that cannot stop its daemons must not hang the run: SIGKILL after a while.
    const patience = new AbortController();
    await Promise.race([
      this.stopManager().catch(() => undefined),
      delay(60_000, undefined, { signal: patience.signal }).catch(() => undefined),
    ]);
    patience.abort();
    if (this.manager?.pid && isAlive(this.manager.pid)) this.manager.kill('SIGKILL');
    const current = this.managerPid();
    if (current !== 0 && isAlive(current)) process.kill(current, 'SIGKILL');
    // The new code of an upgrade that failed half-way never said its pid: found by its config.
    for (const pid of this.processesWith(['--config', this.configFile]))
      process.kill(pid, 'SIGKILL');
    // A manager killed by a test leaves its keeper (it outlives the manager on purpose).
    const keeper = this.keeperPid();
    if (keeper !== 0) process.kill(keeper, 'SIGKILL');
    for (const user of this.users.values()) {
      for (const pid of livePidsOfUid(user.uid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const user of this.users.values()) {
      await waitFor(`processes of ${user.name} to die`, () =>
        livePidsOfUid(user.uid).length === 0 ? true : undefined,
      ).catch(() => undefined);
      try {
        execFileSync('userdel', ['-f', user.name], { stdio: 'ignore' });
      } catch {
        // userdel refuses while processes linger; the prefix makes leftovers easy to find.
      }
    }
    // And every group of the sandbox's prefix: a test that makes an account again, renames
    // or deletes accounts in one write (as vipw) left its user's group behind.
    const prefixed = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((line) => line.slice(0, line.indexOf(':')))
      .filter((name) => name.startsWith(this.prefix));
    for (const group of new Set([...this.groups, ...prefixed])) {
      try {
        execFileSync('groupdel', [group], { stdio: 'ignore' });
      } catch {
        // Removed with its user already.
      }
    }
    removeCgroups(join(this.dir, 'state'));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Removes the cgroups a manager of this state directory made, in every hierarchy, once
 * its processes are gone (a test's manager is often killed, and leaves them behind).
 * What still has a process is left.
 */
function removeCgroups(stateDir: string): void {
  let mounts: ReturnType<typeof parseMountinfo>;
  let own: string;
  try {
    mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    own = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return;
  }
  const remove = (dir: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) remove(join(dir, entry.name));
    try {
      rmdirSync(dir);
    } catch {
      // Not empty (a process in it), or gone.
    }
  };
  for (const mount of mounts) {
    if (mount.type !== 'cgroup' && mount.type !== 'cgroup2') continue;
    const path = ownCgroupPath(own, (controllers) =>
      mount.type === 'cgroup2'
        ? controllers === ''
        : controllers.split(',').some((name) => mount.superOptions.includes(name)),
    );
    if (path !== undefined) remove(join(mount.point, path, cgroupTag(stateDir)));
  }
}

/** Runs a command, collecting its output; never throws on a non-zero exit. */
export function run(
  command: readonly string[],
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  return new Promise((resolveRun, reject) => {
    const [file, ...rest] = command;
    const child = spawn(file ?? 'false', [...rest, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
    // A command that exits before reading its input makes this write fail with EPIPE;
    // its exit status tells what happened, so the error is not the caller's concern.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}
