import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { waitFor } from '../../test/helpers/wait.ts';
import { NO_LIMITS } from '../config/limits.ts';
import { commandFor, type Exit, environmentLines, type LaunchPlan, launch } from './launch.ts';

const PLAN: LaunchPlan = {
  start: 'exec sleep 1000',
  dir: '/srv/web',
  uid: 1000,
  gid: 1000,
  groups: [1000, 27, 33],
  env: { HOME: '/home/web', PATH: '/home/web/bin:/usr/bin', LD_PRELOAD: '/home/web/evil.so' },
  output: 'ignore',
  limits: NO_LIMITS,
  cgroup: undefined,
  umask: 0o022,
};

const LAUNCHER = '/opt/dm/build/Release/dm-launch';

describe('commandFor', () => {
  test('as root, names the user, gid and supplementary groups to switch to', () => {
    assert.deepEqual(commandFor(PLAN, true, LAUNCHER), [
      LAUNCHER,
      '',
      '1000',
      '1000',
      '1000,27,33',
      '',
      '022',
      '/srv/web',
      'exec sleep 1000',
    ]);
  });

  test('a daemon that runs as root keeps root: the admin granted exactly that', () => {
    const command = commandFor({ ...PLAN, uid: 0, gid: 0 }, true, LAUNCHER);
    assert.deepEqual(command.slice(2, 5), ['-', '-', '']);
  });

  test('without root there is nobody to switch to', () => {
    assert.deepEqual(commandFor(PLAN, false, LAUNCHER).slice(2, 5), ['-', '-', '']);
  });

  test('the launcher is named by absolute path, whatever PATH the daemon exports', () => {
    assert.ok(commandFor(PLAN, true, LAUNCHER)[0]?.startsWith('/'));
  });

  test('the cgroup is joined through its cgroup.procs file', () => {
    const command = commandFor({ ...PLAN, cgroup: '/sys/fs/cgroup/pids/dm/u/web' }, true, LAUNCHER);
    assert.equal(command[1], '/sys/fs/cgroup/pids/dm/u/web/cgroup.procs');
  });

  test('only the limits set are passed, as name=value', () => {
    const plan = { ...PLAN, limits: { nofile: 64, nproc: 10, core: 0, as: undefined } };
    assert.equal(commandFor(plan, true, LAUNCHER)[5], 'nofile=64,nproc=10,core=0');
  });

  test('the umask is passed in octal', () => {
    assert.equal(commandFor({ ...PLAN, umask: 0o7 }, true, LAUNCHER)[6], '007');
  });

  test('the environment is not on the command line, where other users could read it', () => {
    const command = commandFor({ ...PLAN, env: { SECRET: 'hunter2' } }, true, LAUNCHER).join(' ');
    assert.ok(!command.includes('hunter2'), command);
  });
});

describe('environmentLines', () => {
  test('one NAME=value per line, values kept byte for byte, then an empty line', () => {
    assert.equal(
      environmentLines({ A: 'x y', B: '"quoted" $HOME \\n', C: '' }),
      'A=x y\nB="quoted" $HOME \\n\nC=\n\n',
    );
  });
  test('drops what could not be read back as one entry', () => {
    assert.equal(environmentLines({ 'A B': '1', C: 'two\nlines', D: 'ok' }), 'D=ok\n\n');
  });
  test('an empty environment is the empty line alone', () => {
    assert.equal(environmentLines({}), '\n');
  });
});

describe('launch', { skip: process.geteuid?.() !== 0 && 'needs root' }, () => {
  /** Runs a plan to its end and returns its output and exit. */
  function runToEnd(plan: LaunchPlan): Promise<{ output: string; exit: Exit }> {
    return new Promise((resolve, reject) => {
      let output = '';
      let exit: Exit | undefined;
      let closed = false;
      const finish = (): void => {
        if (exit !== undefined && closed) resolve({ output, exit });
      };
      const launched = launch(plan, (ended) => {
        exit = ended;
        finish();
      });
      if (!launched.ok) return reject(new Error(launched.error));
      launched.child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      launched.child.stdout?.on('close', () => {
        closed = true;
        finish();
      });
    });
  }

  const NOBODY = 65534;
  const report =
    'grep -E "^(Uid|NoNewPrivs|CapInh|CapPrm|CapEff|CapBnd|CapAmb)" /proc/self/status; ' +
    'echo "pwd $(pwd)"; echo "limits $(ulimit -Hn) $(ulimit -Sn)"; env | sort';

  test('the daemon runs as its user, without privileges, with exactly its environment', async () => {
    const { output, exit } = await runToEnd({
      ...PLAN,
      start: report,
      dir: '/tmp',
      uid: NOBODY,
      gid: NOBODY,
      groups: [NOBODY],
      env: { HOME: '/nonexistent', PATH: '/usr/bin:/bin', GREETING: 'hello "world" $HOME' },
      output: 'pipe',
      limits: { ...NO_LIMITS, nofile: 77 },
    });
    assert.deepEqual(exit, { code: 0, signal: null }, output);
    assert.match(
      output,
      new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'),
    );
    assert.match(output, /^NoNewPrivs:\s+1$/m);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      assert.match(output, new RegExp(`^${set}:\\s+0+$`, 'm'), set);
    assert.match(output, /^pwd \/tmp$/m);
    assert.match(output, /^limits 77 77$/m);
    const env = output
      .slice(output.indexOf('\nGREETING=') + 1)
      .trimEnd()
      .split('\n');
    assert.deepEqual(
      env.filter((line) => !line.startsWith('PWD=') && !line.startsWith('OLDPWD=')),
      ['GREETING=hello "world" $HOME', 'HOME=/nonexistent', 'PATH=/usr/bin:/bin'],
    );
  });

  test('the daemon has only descriptors 0, 1 and 2: the environment pipe is closed', async () => {
    const launched = launch(
      { ...PLAN, dir: '/', uid: NOBODY, gid: NOBODY, groups: [NOBODY], output: 'pipe' },
      () => {},
    );
    assert.ok(launched.ok);
    const pid = launched.pid;
    try {
      // The launcher becomes sleep (exec) once it has read its environment.
      const fds = await waitFor('the daemon to exec sleep', () => {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
        return command.startsWith('sleep\0') ? readdirSync(`/proc/${pid}/fd`) : undefined;
      });
      // The manager closes what it inherited at start (daemon/inherited-fds.ts); this test
      // process may hold such descriptors from whoever ran it, so those are set aside.
      const inherited = inheritedByThisProcess();
      assert.deepEqual(fds.filter((fd) => !inherited.includes(fd)).sort(), ['0', '1', '2']);
    } finally {
      process.kill(-pid, 'SIGKILL');
    }
  });

  test('a limit above what the manager has is refused by the kernel, and the log says so', async () => {
    const { output, exit } = await runToEnd({
      ...PLAN,
      start: 'echo started',
      dir: '/',
      uid: NOBODY,
      gid: NOBODY,
      groups: [NOBODY],
      env: {},
      output: 'pipe',
      limits: { ...NO_LIMITS, nofile: 2 ** 30 },
    });
    assert.notEqual(exit.code, 0);
    assert.match(output, /^daemon-manager: cannot set limit nofile: /m);
    assert.doesNotMatch(output, /started/);
  });
});

/** Descriptors above 2 of this process without close-on-exec: any child inherits them. */
function inheritedByThisProcess(): string[] {
  return readdirSync('/proc/self/fdinfo').filter((fd) => {
    if (Number(fd) < 3) return false;
    try {
      const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
      return flags?.[1] !== undefined && (Number.parseInt(flags[1], 8) & 0o2000000) === 0;
    } catch {
      return false;
    }
  });
}
