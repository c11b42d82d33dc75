import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, readWhen, showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, ROOT_DIR, run, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const NODE = join(ROOT_DIR, 'node_modules/node/bin/node');

describe('a daemon starts with umask 022, or the one its config asks for', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const dirOf = (name: string): string => join(host.user('alice').home, name);

  /** Connects to a unix socket as bob; "hello" or the error code. */
  const connectAsBob = async (socket: string): Promise<string> => {
    const script = `require('node:net').connect(${JSON.stringify(socket)}).on('data', (d) => process.stdout.write(d.toString())).on('error', (e) => process.stdout.write(e.code))`;
    const result = await run(
      ['runuser', '-u', host.user('bob').name, '--', NODE, '-e', script],
      [],
    );
    return result.stdout.trim();
  };

  before(async () => {
    host.user('bob');
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (const [name, umask] of [
      ['plain', ''],
      ['open', 'umask=000\n'],
      ['group', 'umask = 0007\n'],
    ] as const) {
      mkdirSync(dirOf(name), { mode: 0o755 });
      chownSync(dirOf(name), host.user('alice').uid, host.user('alice').gid);
      host.writeDaemon(
        'alice',
        name,
        `start=exec ${FIXTURES}/umask.sh ${dirOf(name)} ${NODE}\n${umask}`,
      );
    }
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);
  const ready = async (name: string): Promise<void> => {
    await readWhen(join(dirOf(name), 'umask'), (text) => text.trim() !== '');
    await waitFor(`${name}'s socket`, () =>
      existsSync(join(dirOf(name), 'socket')) ? true : undefined,
    );
  };

  for (const [name, umask, file, socket] of [
    ['plain', '0022', '644', '755'],
    ['open', '0000', '666', '777'],
    ['group', '0007', '660', '770'],
  ] as const)
    test(`${name}: umask ${umask}, so its new file is ${file} and its socket ${socket}`, async () => {
      await ready(name);
      assert.equal((await readWhen(join(dirOf(name), 'umask'), () => true)).trim(), umask);
      assert.equal(modeOf(join(dirOf(name), 'file')), file);
      assert.equal(modeOf(join(dirOf(name), 'socket')), socket);
    });

  test('a socket made under umask=000 is reachable by another user; under 022 it is not', async () => {
    await ready('open');
    await ready('plain');
    assert.equal(await connectAsBob(join(dirOf('open'), 'socket')), 'hello');
    assert.equal(await connectAsBob(join(dirOf('plain'), 'socket')), 'EACCES');
  });

  test('a umask that is not octal is an error naming the file and line', async () => {
    const file = host.writeDaemon('alice', 'odd', 'start=exec sleep 100000\numask=0o22\n');
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 1);
    assert.ok(
      rescan.stderr.includes(
        `${file}:2: error: 'umask' must be an octal mask like 022 or 0027, not '0o22'`,
      ),
      rescan.stderr,
    );
  });
});
