import assert from 'node:assert/strict';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { DMCTL, run, TestHost } from '../helpers/host.ts';

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
      const line = args.map((word) => `'${word}'`).join(' ');
      const result = await run(['script', '-qec', `stty cols 80; ${line}`, '/dev/null'], []);
      assert.equal(result.code, 0, result.stdout);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the colours go before measuring
      const plain = result.stdout.replaceAll('\r', '').replace(/\u001b\[\d*m/g, '');
      for (const shown of plain.split('\n'))
        assert.ok(shownWidth(shown) <= 80, `${shownWidth(shown)} columns: ${shown}`);
      if (command === 'why') assert.match(plain, /status: ok.*…$/m, plain);
    });
});
