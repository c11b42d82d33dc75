import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DaemonStatus } from './messages.ts';
import {
  formatElapsed,
  formatLastExit,
  formatStatusTable,
  STATUS_HEADER,
  shortReason,
} from './status-table.ts';

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

describe('formatElapsed', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [0.9, '0s'],
    [-5, '0s'],
    [Number.NaN, '0s'],
    [1, '1s'],
    [42, '42s'],
    [42.99, '42s'],
    [59, '59s'],
    [MINUTE, '1m0s'],
    [MINUTE + 1, '1m1s'],
    [HOUR - 1, '59m59s'],
    [HOUR, '1h0m'],
    [12 * HOUR + 57 * MINUTE, '12h57m'],
    [12 * HOUR + 57 * MINUTE + 59, '12h57m'],
    [DAY - 1, '23h59m'],
    [DAY, '1d0h'],
    [4 * DAY + 7 * HOUR, '4d7h'],
    [4 * DAY + 7 * HOUR + 59 * MINUTE + 59, '4d7h'],
    [WEEK - 1, '6d23h'],
    [WEEK, '1w0d'],
    [3 * WEEK + 3 * DAY, '3w3d'],
    [3 * WEEK + 3 * DAY + 23 * HOUR + 59 * MINUTE, '3w3d'],
    [100 * WEEK + 6 * DAY, '100w6d'],
  ];
  for (const [seconds, expected] of cases) {
    test(`${seconds} s is ${expected}`, () => {
      assert.equal(formatElapsed(seconds), expected);
    });
  }
});

/** A running daemon as in the original's documentation. */
const WORDPRESS: DaemonStatus = {
  id: 'david/wordpress',
  user: 'david',
  name: 'wordpress',
  state: 'running',
  wanted: 'up',
  pid: 27012,
  respawns: 33,
  cooldown: 0,
  cooldownStep: 0,
  uptime: 12 * HOUR + 57 * MINUTE + 12,
  total: 3 * WEEK + 3 * DAY + 5 * HOUR,
  runAs: 'www-data',
  output: 'log',
};

describe('shortReason', () => {
  const cases: [string, string][] = [
    ['/h/a.conf:12: error: bad thing', 'line 12: bad thing'],
    ['/h/a.conf: error: refused: is world-writable', 'refused: is world-writable'],
    [`/h/a.conf:1: error: ${'x'.repeat(100)}`, `line 1: ${'x'.repeat(49)}...`],
    ['something else', 'something else'],
  ];
  for (const [problem, reason] of cases)
    test(`${problem.slice(0, 40)} gives ${reason.slice(0, 30)}`, () => {
      assert.equal(shortReason(problem), reason);
    });
});

/** The header of the table into a pipe: the original's seven columns, then run-as and last-exit. */
const HEADER = `${STATUS_HEADER} run-as   last-exit`;

describe('formatStatusTable into a pipe', () => {
  test('the first seven columns of the header are column for column the original ones', () => {
    assert.equal(
      STATUS_HEADER,
      'daemon-id                      state              pid respawns cooldown   uptime    total',
    );
  });

  test('a running daemon gives the row of the original documentation, then run-as and last-exit', () => {
    assert.equal(
      formatStatusTable([WORDPRESS]),
      `${HEADER}\n` +
        'david/wordpress                running          27012       33       0s   12h57m     3w3d www-data -\n',
    );
  });

  test('no daemons print only the header', () => {
    assert.equal(formatStatusTable([]), `${HEADER}\n`);
  });

  const rows: { name: string; status: DaemonStatus; row: string }[] = [
    {
      name: 'a stopped daemon shows pid 0, zero times and how it ended',
      status: {
        ...WORDPRESS,
        state: 'stopped',
        pid: 0,
        respawns: 0,
        uptime: 0,
        total: 0,
        lastExit: 'exit status 0',
        lastExitCode: 0,
      },
      row: 'david/wordpress                stopped              0        0       0s       0s       0s www-data exit 0',
    },
    {
      name: 'a cooling-down daemon fills the state column exactly and shows its time left',
      status: {
        ...WORDPRESS,
        id: 'amy/shop',
        state: 'coolingdown',
        pid: 0,
        cooldown: 40,
        uptime: 0,
        total: 0,
        runAs: 'amy',
        lastExit: 'killed by SIGSEGV',
        lastExitSignal: 'SIGSEGV',
      },
      row: 'amy/shop                       coolingdown          0       33      40s       0s       0s amy      SIGSEGV',
    },
    {
      name: 'a stopping daemon keeps its pid',
      status: { ...WORDPRESS, state: 'stopping', respawns: 12345678, uptime: 42, total: 42 },
      row: 'david/wordpress                stopping         27012 12345678       0s      42s      42s www-data -',
    },
    {
      name: 'an id of exactly 30 characters still leaves one space',
      status: { ...WORDPRESS, id: `abcdefghij/${'x'.repeat(19)}` },
      row: 'abcdefghij/xxxxxxxxxxxxxxxxxxx running          27012       33       0s   12h57m     3w3d www-data -',
    },
    {
      name: 'a longer id pushes the row right but keeps a space before the state',
      status: { ...WORDPRESS, id: `abcdefghij/${'x'.repeat(25)}` },
      row: 'abcdefghij/xxxxxxxxxxxxxxxxxxxxxxxxx running          27012       33       0s   12h57m     3w3d www-data -',
    },
    {
      name: 'a daemon that could not start says why, whole',
      status: {
        ...WORDPRESS,
        state: 'stopped',
        pid: 0,
        uptime: 0,
        total: 0,
        lastExit: "no such user 'www'",
      },
      row: "david/wordpress                stopped              0       33       0s       0s       0s www-data no such user 'www'",
    },
    {
      name: 'a broken daemon shows its state and a short reason after the row',
      status: {
        ...WORDPRESS,
        state: 'broken',
        pid: 0,
        respawns: 0,
        uptime: 0,
        total: 0,
        problem:
          "/home/david/.daemon-manager/daemons/wordpress.conf:3: error: 'output' must be 'log' or 'discard', not 'x'",
      },
      row: "david/wordpress                broken               0        0       0s       0s       0s www-data line 3: 'output' must be 'log' or 'discard', not 'x'",
    },
  ];
  for (const { name, status, row } of rows) {
    test(name, () => {
      assert.equal(formatStatusTable([status]), `${HEADER}\n${row}\n`);
    });
  }

  test('rows keep the order they are given in', () => {
    const lines = formatStatusTable([
      { ...WORDPRESS, id: 'b/x' },
      { ...WORDPRESS, id: 'a/y' },
    ]).split('\n');
    assert.deepEqual(
      lines.map((line) => line.split(' ')[0]),
      ['daemon-id', 'b/x', 'a/y', ''],
    );
  });

  test('a long run-as user widens its column for every row', () => {
    const lines = formatStatusTable([
      { ...WORDPRESS, runAs: 'a-very-long-user' },
      { ...WORDPRESS, id: 'amy/shop' },
    ]).split('\n');
    assert.equal(lines[0]?.indexOf('last-exit'), lines[2]?.lastIndexOf('-'));
  });
});

describe('formatStatusTable on a terminal', () => {
  const cooling: DaemonStatus = {
    ...WORDPRESS,
    id: 'amy/shop',
    state: 'coolingdown',
    pid: 0,
    cooldown: 40,
    lastExit: "cannot start amy/shop: user 'root' is not allowed for 'amy' (see [can_run_as])",
  };

  test('columns are as wide as their content when there is room', () => {
    assert.equal(
      formatStatusTable([WORDPRESS], { width: 200, color: false }),
      'daemon-id       state     pid respawns cooldown uptime total run-as   last-exit\n' +
        'david/wordpress running 27012       33       0s 12h57m  3w3d www-data -\n',
    );
  });

  const widths = [100, 80, 60, 40, 30, 20];
  for (const width of widths) {
    test(`every line fits in ${width} columns, id and state always shown`, () => {
      const text = formatStatusTable([WORDPRESS, cooling], { width, color: false });
      for (const line of text.trimEnd().split('\n')) {
        assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
        assert.match(line, /^\S+ +\S+/);
      }
      assert.match(text, /coolingdown/);
    });
  }

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

  // An outside review forged a row on root's terminal: forty U+3000 (two columns each,
  // counted one) ran the line past the terminal's edge and its rest wrapped into a row.
  const forger: DaemonStatus = {
    ...WORDPRESS,
    id: 'eve/x',
    status: `${'\u3000'.repeat(40)}root/db running 1 0 0s 1h 1d root -`,
  };
  for (const width of [160, 140, 120, ...widths]) {
    test(`wide characters a user wrote are cut to ${width} columns too: no line wraps`, () => {
      const text = formatStatusTable([WORDPRESS, forger], { width, color: false });
      for (const line of text.trimEnd().split('\n'))
        assert.ok(shownWidth(line) <= width, `${shownWidth(line)} > ${width}: ${line}`);
    });
  }

  test('columns holding wide characters stay aligned', () => {
    const wide: DaemonStatus = { ...WORDPRESS, id: 'amy/日本語', runAs: 'amy' };
    const lines = formatStatusTable([WORDPRESS, wide], { width: 200, color: false }).split('\n');
    const stateAt = lines
      .slice(0, 3)
      .map((line) => shownWidth(line.slice(0, line.search(/ (state|running)/))));
    assert.equal(new Set(stateAt).size, 1, lines.join('\n'));
  });

  // An outside review: one user's long text hid columns of every row, or made the table
  // of everyone as wide as a config file (106 MB for 400 rows).
  test("one user's long text is cut, and hides no column of other rows", () => {
    const alice: DaemonStatus = { ...WORDPRESS, id: 'alice/db', status: 'DEGRADED: no database' };
    const loud: DaemonStatus[] = [
      { ...WORDPRESS, id: 'eve/a', runAs: 'e'.repeat(256) },
      { ...WORDPRESS, id: 'eve/b', status: 'S'.repeat(200) },
      { ...WORDPRESS, id: 'eve/c', lastExit: `unhealthy: ${'Q'.repeat(260_000)}` },
    ];
    for (const width of [120, 200, 250]) {
      const text = formatStatusTable([alice, ...loud], { width, color: false });
      assert.match(text, /^daemon-id .* run-as .* last-exit .* status$/m, `${width}: ${text}`);
      assert.match(text, /DEGRADED: no/, `${width}: alice's status is gone`);
    }
    const piped = formatStatusTable([alice, ...loud]);
    for (const line of piped.split('\n'))
      assert.ok(line.length < 700, `a row of ${line.length} characters into a pipe`);
  });

  test('last-exit is cut before any column goes', () => {
    const text = formatStatusTable([cooling], { width: 100, color: false });
    assert.match(text, /run-as/);
    assert.match(text, /cannot start amy\/shop.*…$/m);
  });

  test('states are coloured, and the columns stay aligned', () => {
    const text = formatStatusTable([WORDPRESS, cooling], { width: 200, color: true });
    assert.ok(text.includes('\u001b[32mrunning    \u001b[0m'), text);
    assert.ok(text.includes('\u001b[31mcoolingdown\u001b[0m'), text);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the colours is the point
    const plain = text.replace(/\u001b\[\d+m/g, '');
    assert.equal(plain, formatStatusTable([WORDPRESS, cooling], { width: 200, color: false }));
  });
});

describe('formatLastExit', () => {
  test('an exit status, a signal, a reason, or nothing yet', () => {
    assert.equal(
      formatLastExit({ ...WORDPRESS, lastExit: 'exit status 3', lastExitCode: 3 }),
      'exit 3',
    );
    assert.equal(
      formatLastExit({ ...WORDPRESS, lastExit: 'killed by SIGTERM', lastExitSignal: 'SIGTERM' }),
      'SIGTERM',
    );
    assert.equal(formatLastExit({ ...WORDPRESS, lastExit: 'spawn EACCES' }), 'spawn EACCES');
    assert.equal(formatLastExit(WORDPRESS), '-');
  });
});
