import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CompletionContext, completeWords, shortIds } from './candidates.ts';

const IDS = ['alice/web', 'alice/queue', 'bob/web'];

function context(
  asked: { config?: string | undefined; personal?: boolean }[] = [],
): CompletionContext {
  return {
    user: 'alice',
    ids: async (config, personal) => {
      asked.push({ config, personal });
      return IDS;
    },
  };
}

describe('completeWords', () => {
  const cases: [string[], string[]][] = [
    [['q'], ['queue']],
    [['alice/'], ['alice/web']],
    [['st'], ['status', 'start', 'stop']],
    [
      ['queue', ''],
      ['status', 'start', 'stop', 'restart', 'kill', 'log', 'tail', 'edit', 'why'],
    ],
    [['stop', 'b'], ['bob/web']],
    [['list', ''], []],
    [['rescan', ''], []],
    [
      ['completion', ''],
      ['bash', 'zsh', 'fish'],
    ],
    [['queue', 'kill', '-HU'], ['-HUP']],
    [['queue', 'kill', 'HU'], []],
    [
      ['kill', 'queue', '-US'],
      ['-USR1', '-USR2'],
    ],
    [
      ['kill', '-HUP', ''],
      ['alice/web', 'queue', 'bob/web'],
    ],
    [['kill', '-9', 'q'], ['queue']],
    [['queue', 'kill', '-HUP', ''], []],
    [['--pers'], ['--personal']],
    [['--json', 'q'], ['queue']],
    [['queue', 'stop', ''], []],
    // Only the owner may edit: bob's daemon is not offered to alice.
    [
      ['edit', ''],
      ['alice/web', 'queue'],
    ],
    // --wait goes with start, stop and restart alone.
    [
      ['--wait', 'st'],
      ['start', 'stop'],
    ],
    [
      ['queue', '--wait', ''],
      ['start', 'stop', 'restart'],
    ],
  ];
  for (const [words, expected] of cases) {
    test(`dmctl ${words.join(' ')}<TAB> offers ${expected.join(' ') || 'nothing'}`, async () => {
      assert.deepEqual(await completeWords(words, context()), expected);
    });
  }

  test('--config and --personal choose which manager is asked', async () => {
    const asked: { config?: string | undefined; personal?: boolean }[] = [];
    await completeWords(['--config', '/x.conf', '--personal', ''], context(asked));
    assert.deepEqual(asked, [{ config: '/x.conf', personal: true }]);
  });

  test('the manager is not asked when no id can come next', async () => {
    const asked: unknown[] = [];
    await completeWords(['list', ''], context(asked as never));
    await completeWords(['queue', ''], context(asked as never));
    assert.deepEqual(asked, []);
  });
});

describe('shortIds', () => {
  test("the caller's own daemons by their name, unless another visible one has it", () => {
    assert.deepEqual(shortIds(IDS, 'alice'), ['alice/web', 'queue', 'bob/web']);
    assert.deepEqual(shortIds(IDS, 'bob'), IDS);
  });
});
