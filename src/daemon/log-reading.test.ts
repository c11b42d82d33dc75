import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { describe, test } from 'node:test';
import type { LogChunk } from '../protocol/messages.ts';
import { type LogSource, type RetiredFile, readLogPiece } from './log-reading.ts';

const LOG = '/home/alice/.daemon-manager/logs/web.log';
const UID = 1000;

/** A file by its inode number (and birth time), its text and its links. */
type File = {
  readonly ino: number;
  readonly btime?: string;
  readonly text: string;
  readonly nlink?: number;
};

/** The log's files by path, read as readChunk reads them (an offset past the end: the top). */
function sourceOf(
  files: Record<string, File>,
  current: number | string | undefined,
  retired: readonly RetiredFile[] = [],
): LogSource {
  return {
    path: LOG,
    keep: 5,
    ownerUid: UID,
    current: typeof current === 'number' ? `1:${current}` : current,
    retired,
    read: async (path, offset, length) => {
      const file = files[path];
      if (file === undefined)
        return { ok: false, error: { code: 'ENOENT', path, message: `${path}: no such file` } };
      const size = file.text.length;
      const start = offset < 0 ? Math.max(0, size + offset) : offset > size ? 0 : offset;
      const data = Buffer.from(file.text.slice(start, start + length));
      const stat = {
        dev: 1,
        ino: file.ino,
        mode: constants.S_IFREG | 0o640,
        uid: UID,
        gid: UID,
        nlink: file.nlink ?? 1,
        size,
        aclWrite: false,
        ...(file.btime === undefined ? {} : { btime: file.btime }),
      };
      return { ok: true, value: { data, next: start + data.length, size, stat } };
    },
  };
}

/**
 * A log missing in a rotation, the pump writing inode `ino`: NAME.log (`new\n`) is there
 * from the `look`-th read on.
 */
function appearingAt(look: number, ino: number): LogSource {
  const files: Record<string, File> = {};
  const source = sourceOf(files, ino);
  let looks = 0;
  return {
    ...source,
    read: async (path, offset, length) => {
      if (++looks === look) files[LOG] = { ino, text: 'new\n' };
      return source.read(path, offset, length);
    },
  };
}

/** A chunk as text, with what the reader does next. */
function shown(chunk: LogChunk | { error: string }): string {
  if ('error' in chunk) return `error: ${chunk.error}`;
  const data = Buffer.from(chunk.data, 'base64').toString();
  const flags = `${chunk.rotated ? ' rotated' : ''}${chunk.skipped ? ' skipped' : ''}`;
  return `${chunk.file} '${data}' next ${chunk.next}${flags}`;
}

describe('readLogPiece', () => {
  const cases: [string, LogSource, number, string | undefined, string][] = [
    [
      'not rotated: read on in NAME.log',
      sourceOf({ [LOG]: { ino: 3, text: 'one\ntwo\n' } }, 3),
      4,
      '1:3',
      "1:3 'two\n' next 8",
    ],
    [
      'rotated by size: the rest of the old file, wherever it is now',
      sourceOf(
        {
          [LOG]: { ino: 3, text: 'e\n' },
          [`${LOG}.1`]: { ino: 2, text: 'c\nd\n' },
          [`${LOG}.2`]: { ino: 1, text: 'a\nb\n' },
        },
        3,
      ),
      2,
      '1:1',
      "1:1 'b\n' next 4 rotated",
    ],
    [
      'at the end of a rotated file: the file rotated after it, from its top',
      sourceOf(
        {
          [LOG]: { ino: 3, text: 'e\n' },
          [`${LOG}.1`]: { ino: 2, text: 'c\nd\n' },
          [`${LOG}.2`]: { ino: 1, text: 'a\nb\n' },
        },
        3,
      ),
      4,
      '1:1',
      "1:2 'c\nd\n' next 4 rotated",
    ],
    [
      'at the end of NAME.log.1: NAME.log, written now',
      sourceOf({ [LOG]: { ino: 3, text: 'e\n' }, [`${LOG}.1`]: { ino: 2, text: 'c\n' } }, 3),
      2,
      '1:2',
      "1:3 'e\n' next 2",
    ],
    [
      'between the rotation and the reopen: no NAME.log yet, asked again',
      sourceOf({ [`${LOG}.1`]: { ino: 2, text: 'c\n' } }, undefined),
      2,
      '1:2',
      "1:2 '' next 2 rotated",
    ],
    [
      'a logrotate renamed it to NAME.log.1 and made NAME.log: written on until the reopen',
      sourceOf({ [LOG]: { ino: 4, text: '' }, [`${LOG}.1`]: { ino: 2, text: 'c\n' } }, 2),
      2,
      '1:2',
      "1:2 '' next 2",
    ],
    [
      'renamed where only the reopen tells, not reopened yet: asked again',
      sourceOf({ [LOG]: { ino: 4, text: '' } }, 2),
      2,
      '1:2',
      "1:2 '' next 2",
    ],
    [
      'renamed by a logrotate and reopened: read on where the pump saw it go',
      sourceOf(
        { [LOG]: { ino: 4, text: 'x\n' }, '/var/old/web.log-1': { ino: 2, text: 'c\nd\n' } },
        4,
        [{ file: '1:2', path: '/var/old/web.log-1' }],
      ),
      2,
      '1:2',
      "1:2 'd\n' next 4 rotated",
    ],
    [
      'two renames before the reader came: the next noted file, then the one written now',
      sourceOf(
        {
          [LOG]: { ino: 4, text: 'x\n' },
          '/var/old/web.log-1': { ino: 2, text: 'c\n' },
          '/var/old/web.log-2': { ino: 3, text: 'd\n' },
        },
        4,
        [
          { file: '1:2', path: '/var/old/web.log-1' },
          { file: '1:3', path: '/var/old/web.log-2' },
        ],
      ),
      2,
      '1:2',
      "1:3 'd\n' next 2 rotated",
    ],
    [
      'the next noted file rotated on since: found by its identity',
      sourceOf(
        {
          [LOG]: { ino: 4, text: 'x\n' },
          [`${LOG}.1`]: { ino: 3, text: 'd\n' },
          '/var/old/web.log-1': { ino: 2, text: 'c\n' },
        },
        4,
        [
          { file: '1:2', path: '/var/old/web.log-1' },
          { file: '1:3', path: LOG },
        ],
      ),
      2,
      '1:2',
      "1:3 'd\n' next 2 rotated",
    ],
    [
      'gone (past log-keep, deleted): said, and NAME.log from its top',
      sourceOf({ [LOG]: { ino: 4, text: 'x\n' } }, 4),
      7,
      '1:2',
      "1:4 'x\n' next 2 skipped",
    ],
    [
      'gone, and NAME.log made since with its inode number (log_keep=1): another file, said',
      sourceOf(
        {
          [LOG]: { ino: 3, btime: '30', text: 'three\n' },
          [`${LOG}.1`]: { ino: 4, btime: '20', text: 'two\n' },
        },
        '1:3:30',
        [
          { file: '1:3:10', path: `${LOG}.1` },
          { file: '1:4:20', path: `${LOG}.1` },
        ],
      ),
      4,
      '1:3:10',
      "1:3:30 'three\n' next 6 skipped",
    ],
    [
      'a rotated file with a second link is refused as NAME.log is',
      sourceOf({ [LOG]: { ino: 4, text: '' }, [`${LOG}.1`]: { ino: 2, text: 'c\n', nlink: 2 } }, 4),
      0,
      '1:2',
      `error: log file ${LOG}.1 has 2 hard links; refused`,
    ],
    [
      // An outside review (64b, F3): with `log_keep=1`, the tail ended "has 0 hard links".
      'a rotated file deleted by the next rotation as it was read: what it held',
      sourceOf({ [LOG]: { ino: 4, text: '' }, [`${LOG}.1`]: { ino: 2, text: 'c\n', nlink: 0 } }, 4),
      0,
      '1:2',
      "1:2 'c\n' next 2 rotated",
    ],
  ];
  for (const [what, source, offset, file, expected] of cases)
    test(what, async () => {
      assert.equal(shown(await readLogPiece(source, offset, file)), expected);
    });
});

// An outside review (51b, F3): a tail through the manager that began while a rotation had
// renamed the log, the next one not open yet, ended with "does not exist".
test('a first read while the log is missing in a rotation waits for it', async () => {
  const counting = appearingAt(3, 4);
  assert.equal(shown(await readLogPiece(counting, 0, undefined)), "1:4 'new\n' next 4");
  // With no file written at all (none open), it is said at once.
  assert.match(
    shown(await readLogPiece(sourceOf({}, undefined), 0, undefined)),
    /^error: cannot open/,
  );
});

// An outside review (52a, F5): with a logrotate's `mv` and SIGUSR1 every 0.3 s, a tail
// through the manager whose file was gone while NAME.log was renamed, the next one not
// open yet, ended with "does not exist".
// An outside review (64b, F3): between a rotation's rename and its next open the pump has no
// file: a tail that read then ended "does not exist".
test('a read while the pump has no file in a rotation waits for NAME.log', async () => {
  const files: Record<string, File> = {};
  const source = { ...sourceOf(files, undefined), writing: true };
  let looks = 0;
  const rotating: LogSource = {
    ...source,
    read: async (path, offset, length) => {
      if (++looks === 3) files[LOG] = { ino: 5, text: 'new\n' };
      return source.read(path, offset, length);
    },
  };
  assert.equal(shown(await readLogPiece(rotating, 0, undefined)), "1:5 'new\n' next 4");
});

test('a file gone while the log is missing in a rotation: said, and the log waited for', async () => {
  const counting = appearingAt(8, 5);
  assert.equal(shown(await readLogPiece(counting, 7, '1:2')), "1:5 'new\n' next 4 skipped");
});

// An outside review (56b, F5): a line over 4 KiB split by a rotation; the file written now
// begins with its rest.
test('a first read from the top says whether the file begins with the rest of a line', async () => {
  const midLine = async (before: string, retired: readonly RetiredFile[] = []) => {
    const files = { [LOG]: { ino: 4, text: 'rest\nb\n' }, [`${LOG}.1`]: { ino: 2, text: before } };
    const chunk = await readLogPiece(sourceOf(files, 4, retired), -100, undefined);
    return 'error' in chunk ? chunk.error : chunk.midLine === true;
  };
  assert.equal(await midLine('a\nthe start of a long line, the '), true);
  assert.equal(await midLine('a\nwhole\n'), false);
  assert.equal(await midLine(''), false, 'nothing before');
  // The pump's record of the file before says which it is, wherever it went.
  assert.equal(await midLine('a\nwhole\n', [{ file: '1:2', path: `${LOG}.1` }]), false);
  // A piece that does not begin at the top is cut anyway: not said.
  const files = { [LOG]: { ino: 4, text: 'rest\nb\n' }, [`${LOG}.1`]: { ino: 2, text: 'cut' } };
  const piece = await readLogPiece(sourceOf(files, 4), 3, undefined);
  assert.equal('error' in piece ? piece.error : piece.midLine, undefined);
});

// An outside review (66b, F2): the file before gone (deleted, or compressed by a logrotate
// without delaycompress), a first read could not tell that the top was the rest of a line;
// the pump that made the file by a rotation says.
test('a first read from the top, the file before gone, goes by what the pump says of its file', async () => {
  const files = { [LOG]: { ino: 4, text: 'rest\nb\n' } };
  const read = async (begins: boolean | undefined) => {
    const source = sourceOf(files, 4);
    const chunk = await readLogPiece(
      begins === undefined ? source : { ...source, currentBeginsMidLine: begins },
      -100,
      undefined,
    );
    return 'error' in chunk ? chunk.error : chunk.midLine === true;
  };
  assert.equal(await read(true), true);
  assert.equal(await read(false), false);
  assert.equal(await read(undefined), false, 'not known: taken as a whole line');
});

// An outside review (60b, F1): after a gap, the top of the log it went on with began with
// the rest of a line, shown as a line.
test('the top read after a file gone says whether it begins with the rest of a line', async () => {
  const after = async (before: string) => {
    const files = { [LOG]: { ino: 4, text: 'rest\nb\n' }, [`${LOG}.1`]: { ino: 3, text: before } };
    const chunk = await readLogPiece(sourceOf(files, 4), 7, '1:2');
    return 'error' in chunk ? chunk.error : `${chunk.skipped} ${chunk.midLine === true}`;
  };
  assert.equal(await after('the start of a long line, the '), 'true true');
  assert.equal(await after('whole\n'), 'true false');
  // The pump's record older than the file read (rotated twice since the request came): the
  // file before is the one rotated just before it, by the rotation's names (65b, F2).
  const stale = await readLogPiece(
    sourceOf(
      {
        [LOG]: { ino: 6, text: 'rest\nb\n' },
        [`${LOG}.1`]: { ino: 5, text: 'the middle of a long line' },
        [`${LOG}.2`]: { ino: 4, text: 'whole\n' },
      },
      5,
      [{ file: '1:4', path: `${LOG}.1` }],
    ),
    7,
    '1:2',
  );
  assert.equal(
    'error' in stale ? stale.error : `${stale.skipped} ${stale.midLine === true}`,
    'true true',
  );
  // Empty yet, its rest to come (64b, F1: a line longer than the files rotated).
  const empty = async (before: string) => {
    const files = { [LOG]: { ino: 4, text: '' }, [`${LOG}.1`]: { ino: 3, text: before } };
    const chunk = await readLogPiece(sourceOf(files, 4), 7, '1:2');
    return 'error' in chunk ? chunk.error : `${chunk.skipped} ${chunk.midLine === true}`;
  };
  assert.equal(await empty('nnnnnnnnnnnnnnnnnnnnnnnn'), 'true true');
  assert.equal(await empty('whole\n'), 'true false');
  // The top rotated on as it was looked at (`log_keep=1`): NAME.log.1 is the top itself
  // now, the file before it gone. Read for the file before, it said "whole line" of a
  // rest (66b, F1: 8 pieces in 7 of 23 tails).
  const files: Record<string, File> = {
    [LOG]: { ino: 6, text: 'rest\nb\n' },
    [`${LOG}.1`]: { ino: 5, text: 'the middle of a long line' },
  };
  const plain = sourceOf(files, 6, [{ file: '1:5', path: `${LOG}.1` }]);
  const rotating: LogSource = {
    ...plain,
    keep: 1,
    read: async (path, offset, length) => {
      const read = await plain.read(path, offset, length);
      if (path === LOG && offset === 0 && files[LOG]?.ino === 6) {
        files[`${LOG}.1`] = files[LOG];
        files[LOG] = { ino: 7, text: 'nnnnnn' };
      }
      return read;
    },
  };
  const rotated = await readLogPiece(rotating, 7, '1:2');
  assert.equal(
    'error' in rotated ? rotated.error : `${rotated.skipped} ${rotated.midLine === true}`,
    'true true',
  );
  // The file before gone too (62b, F2): taken for a rest, the gap said anyway.
  const gone = await readLogPiece(sourceOf({ [LOG]: { ino: 4, text: 'rest\nb\n' } }, 4), 7, '1:2');
  assert.equal(
    'error' in gone ? gone.error : `${gone.skipped} ${gone.midLine === true}`,
    'true true',
  );
});
