import assert from 'node:assert/strict';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { DAEMON_MANAGER, DMCTL, run, TestHost } from '../helpers/host.ts';

/** Columns a terminal gives a line: two for each CJK or fullwidth character, one for the rest. */
const shownWidth = (line: string): number =>
  [...line].reduce(
    (sum, character) =>
      sum +
      (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60]/.test(character)
        ? 2
        : 1),
    0,
  );

/** `command` run on a pseudo-terminal `columns` wide: its exit status and what it showed, colours taken out. */
async function runOnTerminalOf(
  columns: number,
  command: readonly string[],
): Promise<{ code: number; shown: string }> {
  const line = command.map((word) => `'${word}'`).join(' ');
  const result = await run(['script', '-qec', `stty cols ${columns}; ${line}`, '/dev/null'], []);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the colours go before measuring
  const shown = result.stdout.replaceAll('\r', '').replace(/\u001b\[\d*m/g, '');
  return { code: result.code, shown };
}

/** The rows a terminal `columns` wide shows for `line`: it wraps at the edge. */
function rowsOf(line: string, columns: number): string[] {
  const rows = [''];
  for (const character of line) {
    if (shownWidth(`${rows.at(-1)}${character}`) > columns) rows.push('');
    rows[rows.length - 1] += character;
  }
  return rows;
}

/**
 * What a user wrote must not run past the edge of root's terminal: the rest of a line
 * wraps, and reads as a line of its own. An outside review forged two history entries in
 * root's `dmctl ID why` with a STATUS= padded to the width of an 80-column terminal.
 */
describe("a user's text is cut to root's terminal", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const forged = `${' '.repeat(21)}2026-12-03 03:58:12  alice ran dmctl stop`;

  before(async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n');
    const mallory = host.user('mallory');
    const script = join(mallory.home, 'notify.py');
    writeFileSync(
      script,
      [
        'import os, socket, time',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        `s.sendto(${JSON.stringify(`READY=1\nSTATUS=ok${forged.padEnd(77)}\u3000\u3000done`)}.encode(), os.environ['NOTIFY_SOCKET'])`,
        'time.sleep(100000)',
        '',
      ].join('\n'),
    );
    chownSync(script, mallory.uid, mallory.gid);
    host.writeDaemon('mallory', 'n', `start=exec python3 ${script}\nready=notify\n`);
    await host.startManager();
    await host.waitForDaemon('mallory', 'mallory/n', (d) => d.state === 'running', 'to be ready');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  for (const command of ['why', 'status'])
    test(`dmctl ${command} on an 80-column terminal: no line wider`, async () => {
      const args = [DMCTL, '--config', host.configFile, host.id('mallory/n'), command];
      const result = await runOnTerminalOf(80, args);
      assert.equal(result.code, 0, result.shown);
      for (const shown of result.shown.split('\n'))
        assert.ok(shownWidth(shown) <= 80, `${shownWidth(shown)} columns: ${shown}`);
      if (command === 'why') assert.match(result.shown, /status: ok.*…$/m, result.shown);
    });
});

/**
 * The review's second forgery: a config value padded so that, on root's terminal of 120
 * columns, the problem quoting it wraps just where a problem of another user's file seems
 * to begin. `dmctl problems` and `daemon-manager --check` cut it there; into a pipe the
 * line stays whole, for scripts.
 */
describe("a user's config problem is cut to root's terminal", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const forged = (): string =>
    `${host.daemonFile('victim', 'web')}:1: error: 'user' may not be root`;

  before(async () => {
    host.user('victim');
    host.writeMaster('[can_run_as]\n{mallory}\n');
    const shownBefore = `${host.daemonFile('mallory', 'pad')}:2: error: 'output' must be 'log' or 'discard', not '`;
    const padding = ' '.repeat(120 - shownBefore.length - 1);
    host.writeDaemon(
      'mallory',
      'pad',
      `start=exec sleep 1\noutput=x${padding}${forged().padEnd(120)}y\n`,
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  /** Into a pipe, the padded line is whole, and the forgery begins at column 121. */
  const assertWhole = (stdout: string): void => {
    const whole = stdout.split('\n').find((line) => line.includes(forged()));
    assert.equal(whole?.indexOf(forged()), 120, stdout);
  };

  /** On the terminal, the padded line is cut, and no row it shows begins with the forgery. */
  const assertFitted = (shown: string): void => {
    for (const line of shown.split('\n')) {
      for (const row of rowsOf(line, 120))
        assert.ok(!row.startsWith(forged()), `a row reads as the victim's problem: ${row}`);
      assert.ok(shownWidth(line) <= 120, `${shownWidth(line)} columns: ${line}`);
    }
    assert.match(shown, /'discard', not '.*…$/m, shown);
  };

  for (const user of [[], ['mallory']])
    test(`dmctl ${['problems', ...user].join(' ')} on a 120-column terminal: no line wider, none forged`, async () => {
      const named = user.map((short) => host.user(short).name);
      const args = [DMCTL, '--config', host.configFile, 'problems', ...named];
      assertWhole((await run(args, [])).stdout);
      const result = await runOnTerminalOf(120, args);
      assert.equal(result.code, 0, result.shown);
      assertFitted(result.shown);
    });

  test('daemon-manager --check on a 120-column terminal: no line wider, none forged', async () => {
    const args = [DAEMON_MANAGER, '--check', '--config', host.configFile];
    assertWhole((await run(args, [])).stdout);
    const result = await runOnTerminalOf(120, args);
    assert.equal(result.code, 1, result.shown);
    assertFitted(result.shown);
  });
});
