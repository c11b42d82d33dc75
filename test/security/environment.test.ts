import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWhen } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertManagerAnswers, waitForNoProcessWith } from './support.ts';

describe('nothing of the manager reaches a daemon: environment, descriptors, programs', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const running = (id: string) =>
    host.waitForDaemon('root', id, (d) => d.state === 'running' && d.pid > 0, 'to run');
  let tools = '';

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    // alice's daemon holds a log open in the manager while mallory's start.
    host.writeDaemon('alice', 'web', 'start=echo alice; exec sleep 6000001\noutput=log\n');
    tools = join(host.dir, 'tools');
    mkdirSync(tools, { mode: 0o755 });
    await host.startManager();
    await running('alice/web');
  });
  after(() => host.cleanup());

  test("no variable of the manager's environment reaches a daemon, not even root's", async () => {
    const out = join(host.user('mallory').home, 'env.txt');
    host.writeDaemon(
      'mallory',
      'env',
      `start=env > ${out}.tmp; mv ${out}.tmp ${out}; exec sleep 6000100\nexport MINE=1\n`,
    );
    await host.dmctl('mallory', 'rescan');
    const env = await readWhen(out, (text) => text.includes('MINE=1'));
    assert.doesNotMatch(env, /DM_TEST_SECRET|root-secret-value/);
    const names = env
      .trim()
      .split('\n')
      .map((line) => line.slice(0, line.indexOf('=')))
      .filter((name) => name !== 'PWD' && name !== 'OLDPWD')
      .sort();
    assert.deepEqual(names, ['HOME', 'LOGNAME', 'MINE', 'PATH', 'USER']);
    const rootDaemons = join(host.dir, 'root-daemons');
    mkdirSync(rootDaemons, { recursive: true });
    writeFileSync(join(rootDaemons, 'rootenv.conf'), 'start=exec sleep 6000101\n', {
      mode: 0o600,
    });
    await host.dmctl('root', 'rescan');
    const rootd = await waitFor('root/rootenv to run', async () =>
      (await host.status('root')).find((d) => d.id === 'root/rootenv' && d.state === 'running'),
    );
    for (const pid of [rootd.pid, (await running('mallory/env')).pid]) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      assert.doesNotMatch(environ, /DM_TEST_SECRET|root-secret-value/, `pid ${pid}`);
    }
  });

  test('a daemon has descriptors 0, 1 and 2 only: no socket, log or state file of the manager', async () => {
    const out = join(host.user('mallory').home, 'fds.txt');
    host.writeDaemon(
      'mallory',
      'fds',
      `start=ls -l /proc/self/fd > ${out}.tmp; mv ${out}.tmp ${out}; exec sleep 6000200\noutput=log\n`,
    );
    await host.dmctl('mallory', 'rescan');
    const listing = await readWhen(out, (text) => text.includes('->'));
    const fds = [...listing.matchAll(/ (\d+) -> (.*)$/gm)]
      // ls itself has the directory it lists open.
      .filter((match) => !/^\/proc\/\d+\/fd$/.test(match[2] ?? ''))
      .map((match) => match[1]);
    assert.deepEqual(fds, ['0', '1', '2'], listing);
    const { pid } = await running('mallory/fds');
    const fdTargets = readdirSync(`/proc/${pid}/fd`)
      .sort()
      .map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)]);
    // Standard output and error are the one channel the manager reads the log from
    // (a socketpair, as Node makes its pipes); standard input is /dev/null.
    const log = fdTargets[1]?.[1] ?? '';
    assert.match(log, /^(socket|pipe):\[\d+\]$/);
    assert.deepEqual(fdTargets, [
      ['0', '/dev/null'],
      ['1', log],
      ['2', log],
    ]);
  });

  test('an exported PATH cannot choose a program the manager runs as root', async () => {
    const mallory = host.user('mallory');
    const evil = join(mallory.home, 'evil');
    host.mkdirAs(mallory, evil);
    const record = join(host.dir, 'ran-as');
    writeFileSync(record, '', { mode: 0o666 });
    chmodSync(record, 0o666);
    for (const name of ['setpriv', 'prlimit', 'sh', 'env']) {
      writeFileSync(
        join(evil, name),
        `#!/bin/sh\nid -u >> ${record}\nexec /usr/bin/${name} "$@"\n`,
      );
      chmodSync(join(evil, name), 0o755);
      execFileSync('chown', [`${mallory.uid}:${mallory.gid}`, join(evil, name)]);
    }
    host.writeDaemon(
      'mallory',
      'path',
      `start=exec sleep 6000300\nexport PATH=${evil}:/usr/bin:/bin\nlimit_nofile=100\n`,
    );
    await host.dmctl('mallory', 'rescan');
    await running('mallory/path');
    const ranAs = readFileSync(record, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(
      ranAs.filter((uid) => uid === '0'),
      [],
      'nothing of mallory ran as root',
    );
    await host.dmctl('mallory', 'path', 'stop');
    await waitForNoProcessWith('sleep 6000300', 'the daemon');
  });

  test('an exported LD_PRELOAD is loaded by the daemon as mallory, never by root', async () => {
    const source = join(tools, 'preload.c');
    const library = join(tools, 'preload.so');
    const record = join(host.dir, 'preloaded');
    writeFileSync(record, '', { mode: 0o666 });
    chmodSync(record, 0o666);
    writeFileSync(
      source,
      [
        '#include <stdio.h>',
        '#include <unistd.h>',
        '__attribute__((constructor)) static void report(void) {',
        `  FILE *f = fopen("${record}", "a");`,
        '  if (f) { fprintf(f, "%d\\n", (int)geteuid()); fclose(f); }',
        '}',
        '',
      ].join('\n'),
    );
    execFileSync('cc', ['-shared', '-fPIC', '-o', library, source]);
    chmodSync(library, 0o755);
    host.writeDaemon(
      'mallory',
      'preload',
      `start=exec sleep 6000400\nexport LD_PRELOAD=${library}\nlimit_nofile=100\n`,
    );
    await host.dmctl('mallory', 'rescan');
    await running('mallory/preload');
    const loads = await readWhen(record, (text) => text.includes('\n'));
    const uids = loads.split('\n').filter(Boolean);
    assert.ok(uids.length > 0, 'the daemon itself did load it');
    assert.deepEqual([...new Set(uids)], [String(host.user('mallory').uid)], 'never as root');
    await host.dmctl('mallory', 'preload', 'stop');
    await waitForNoProcessWith('sleep 6000400', 'the daemon');
    assert.ok(existsSync(record));
    await assertManagerAnswers(host, 'alice', 'mallory');
  });
});
