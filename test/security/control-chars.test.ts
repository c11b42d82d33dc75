import assert from 'node:assert/strict';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { type CommandResult, TestHost } from '../helpers/host.ts';
import { attack, clientOutcome, socketOf, waitForLog } from './support.ts';

/** The control, format and separator characters of `text`, other than its line breaks. */
function rawControls(text: string): string[] {
  return [...text.replaceAll('\n', '').matchAll(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu)].map(
    ([character]) => `U+${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

/** A log line as a forger would like it to appear, after a CR or a line separator. */
const FORGED = '2026-01-01T00:00:00.000Z info audit: root: stop "x": ok';

/**
 * Whatever mallory writes (config values, file names, ids, signal names) reaches root's
 * terminal, the manager's log and its audit trail with every control character escaped:
 * no colour, no cursor movement, no overwritten or forged line.
 */
describe('control characters from a user are escaped wherever they are shown', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const outputs = (...results: CommandResult[]): string =>
    results.map((result) => result.stdout + result.stderr).join('\n');

  before(async () => {
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{mallory}\n');
    host.writeDaemon('mallory', 'web', 'start=exec sleep 5000001\n');
    await host.startManager();
    await host.waitForDaemon('root', 'mallory/web', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a config value with ESC and CR is shown escaped by dmctl and in the log', async () => {
    const from = host.managerLog.length;
    const file = host.writeDaemon(
      'mallory',
      'paint',
      `start=exec sleep 5000002\noutput=\u001b[2J\u001b[31mRED\r${FORGED}\n`,
    );
    const rescan = await host.dmctl('mallory', 'rescan');
    const results = [
      rescan,
      await host.dmctl('mallory', 'status'),
      await host.dmctl('mallory', '--json', 'status'),
      await host.dmctl('root', 'problems'),
      await host.dmctl('root', 'status'),
    ];
    assert.ok(
      rescan.stderr.includes(
        `${file}:2: error: 'output' must be 'log' or 'discard', not '\\x1b[2J\\x1b[31mRED\\r${FORGED}'`,
      ),
      rescan.stderr,
    );
    assert.deepEqual(rawControls(outputs(...results)), []);
    const log = await waitForLog(host, from, /paint\.conf:2: error/);
    assert.deepEqual(rawControls(log), []);
    assert.ok(
      log.split('\n').every((line) => !line.startsWith(FORGED)),
      'no forged log line',
    );
  });

  test('a file name with ESC and CR is shown escaped', async () => {
    const from = host.managerLog.length;
    const dir = join(host.user('mallory').home, '.daemon-manager/daemons');
    const name = `evil\u001b]0;owned\u0007\r${FORGED}.conf`;
    writeFileSync(join(dir, name), 'start=exec sleep 5000003\n');
    chownSync(join(dir, name), host.user('mallory').uid, host.user('mallory').gid);
    const rescan = await host.dmctl('mallory', 'rescan');
    assert.match(rescan.stderr, /evil\\x1b\]0;owned\\x07\\r2026/);
    assert.deepEqual(rawControls(outputs(rescan, await host.dmctl('root', 'problems'))), []);
    const log = await waitForLog(host, from, /evil\\x1b/);
    assert.deepEqual(rawControls(log), []);
  });

  test('ids and signal names with C1 controls or bidi overrides are escaped in replies and the audit trail', async () => {
    const from = host.managerLog.length;
    const ids = ['w\u202eeb', 'web\u2028FAKE', 'w\u200beb'];
    const results: CommandResult[] = [];
    for (const id of ids) results.push(await host.dmctl('mallory', id, 'stop'));
    for (const result of results) assert.equal(result.code, 1);
    assert.deepEqual(rawControls(outputs(...results)), []);
    assert.match(results[0]?.stderr ?? '', /unknown daemon 'w\\u202eeb'/);
    // Refused by dmctl itself, a usage mistake; sent raw, by the manager, and audited.
    const kill = await host.dmctl('mallory', 'web', 'kill', '-\u009b31mHUP');
    assert.equal(kill.code, 2);
    assert.deepEqual(rawControls(outputs(kill)), []);
    for (const request of [
      { command: 'status', id: 'x\u009by\u2029z' },
      { command: 'kill', id: 'web', signal: '-\u009b31mHUP' },
    ]) {
      const sent = await attack(
        host,
        'mallory',
        'send',
        socketOf(host, 'mallory'),
        Buffer.from(`${JSON.stringify(request)}\n`).toString('base64'),
      );
      const reply = String(clientOutcome(sent.stdout).reply);
      assert.equal(JSON.parse(reply).ok, false);
      assert.deepEqual(rawControls(reply), [], 'the reply itself holds no raw control');
    }
    const log = await waitForLog(host, from, /audit: .*status "x\\u009by\\u2029z"/);
    assert.match(log, /audit: .*stop "w\\u202eeb": refused: unknown daemon/);
    assert.match(log, /audit: .*kill "[^"]*web" "-\\u009b31mHUP": failed: unknown signal/);
    assert.deepEqual(rawControls(log), []);
  });

  test('invisible characters, stacked marks and long quotes: escaped, and a problem bounded as shown', async () => {
    const from = host.managerLog.length;
    const dir = join(host.user('mallory').home, '.daemon-manager/daemons');
    // A file name that would show as `web.conf` beside mallory's real web.conf.
    const lookalike = 'web\u034f\u3164.conf';
    writeFileSync(join(dir, lookalike), 'start=exec sleep 5000004\n');
    chownSync(join(dir, lookalike), host.user('mallory').uid, host.user('mallory').gid);
    // A value of marks stacked by the hundred (they spill over the rows above and
    // below), then of invisible characters: 600 quoted, each shown as six.
    const file = host.writeDaemon(
      'mallory',
      'zalgo',
      `start=exec sleep 5000005\noutput=Z${'\u0301'.repeat(300)}\nrestart=${'\u200b'.repeat(700)}\n`,
    );
    const rescan = await host.dmctl('mallory', 'rescan');
    assert.match(rescan.stderr, /web\\u034f\\u3164\.conf/);
    const problems = await host.dmctl('root', 'problems');
    const shown = outputs(rescan, problems, await host.dmctl('root', 'status'));
    // Nothing invisible, and no more than two marks on any character.
    assert.doesNotMatch(shown, /[\u034f\u3164\u200b]|\p{M}{3}/u);
    assert.match(shown, /'Z\u0301\u0302?/u);
    for (const line of problems.stdout.split('\n').filter((text) => text.includes(file)))
      assert.ok(
        line.length < file.length + 700,
        `${line.length} characters: ${line.slice(0, 200)}`,
      );
    const log = await waitForLog(host, from, /zalgo\.conf:3: error/);
    assert.doesNotMatch(log, /[\u034f\u3164\u200b]|\p{M}{3}/u);
  });
});
