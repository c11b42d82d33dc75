import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { ensureTool } from '../helpers/debian.ts';
import { ROOT_DIR, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/** A port nobody listens on now (the kernel picks it; the manager takes it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('metrics-listen serves Prometheus metrics', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let url = '';
  const scrape = async (): Promise<string> => {
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  before(async () => {
    ensureTool('promtool');
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    host.writeMaster(
      '[can_run_as]\n{alice}\n',
      `metrics-listen = 127.0.0.1:${port}\ncooldown-step = 30s\ncooldown-max = 30s`,
    );
    // Names as odd as a daemon config allows.
    host.writeDaemon('alice', 'we.b@x+y-z', 'start=exec sleep 100000\n');
    host.writeDaemon('alice', 'crashy', 'start=exit 7\n');
    host.writeDaemon('alice', 'idle', 'start=exec sleep 100000\nautostart=no\n');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('the daemons, as dmctl --json status sees them, in a format promtool accepts', async () => {
    await host.waitForDaemon('alice', 'alice/crashy', (d) => d.state === 'coolingdown', 'to crash');
    const text = await scrape();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'no lint warning either');
    const alice = host.user('alice').name;
    const web = `id="${alice}/we.b@x+y-z",user="${alice}"`;
    const crashy = `id="${alice}/crashy",user="${alice}"`;
    assert.ok(text.includes(`daemon_manager_daemon_up{${web}} 1\n`), text);
    assert.ok(text.includes(`daemon_manager_daemon_state{${crashy},state="coolingdown"} 1\n`));
    assert.ok(text.includes(`daemon_manager_daemon_last_exit_code{${crashy}} 7\n`));
    assert.match(
      text,
      new RegExp(
        `daemon_manager_daemon_cooldown_seconds\\{${crashy.replaceAll('+', '\\+')}\\} [1-9]\\d*\\n`,
      ),
    );
    assert.ok(
      text.includes(`daemon_manager_daemon_wanted_up{id="${alice}/idle",user="${alice}"} 0\n`),
    );
    assert.match(text, /^process_open_fds \d+$/m);
  });

  test('requests and refusals are counted by command', async () => {
    const before = await scrape();
    const count = (text: string, name: string): number =>
      Number(new RegExp(`^${name}\\{command="start"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.equal((await host.dmctl('alice', 'idle', 'start')).code, 0);
    assert.notEqual((await host.dmctl('alice', 'nosuch', 'start')).code, 0);
    const after = await scrape();
    assert.equal(
      count(after, 'daemon_manager_requests_total'),
      count(before, 'daemon_manager_requests_total') + 2,
    );
    assert.equal(
      count(after, 'daemon_manager_request_errors_total'),
      count(before, 'daemon_manager_request_errors_total') + 1,
    );
  });

  test("the manager's bundle loads node:http only when metrics-listen asks for it", () => {
    const bundle = readFileSync(join(ROOT_DIR, 'dist/daemon-manager.mjs'), 'utf8');
    assert.doesNotMatch(bundle, /^import .* from "node:http";$/m);
    assert.match(bundle, /await import\("node:http"\)/);
  });

  test('anything but /metrics is not found', async () => {
    assert.equal((await fetch(url.replace('/metrics', '/'))).status, 404);
    assert.equal((await fetch(url, { method: 'POST' })).status, 405);
  });

  test('a reload without metrics-listen closes the port', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the metrics port to close', async () => {
      try {
        await fetch(url);
        return undefined;
      } catch {
        return true;
      }
    });
  });
});
