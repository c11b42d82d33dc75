import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Problem } from '../config/problems.ts';
import { BrokenConfigs } from './broken-configs.ts';

const ERROR: Problem = { file: '/a/web.conf', line: 3, severity: 'error', message: 'bad' };
const WARNING: Problem = { file: '/a/web.conf', line: 4, severity: 'warning', message: 'odd' };

describe('BrokenConfigs', () => {
  test('a file with an error is broken, with its first error formatted', () => {
    const broken = new BrokenConfigs();
    broken.note('amy', 'web', '/a/web.conf', [WARNING, ERROR, { ...ERROR, line: 9 }]);
    assert.deepEqual(broken.get('amy/web'), {
      id: 'amy/web',
      owner: 'amy',
      name: 'web',
      file: '/a/web.conf',
      problem: '/a/web.conf:3: error: bad',
    });
  });

  test('the problem a status row carries is cut: escaped, a quoted value grows sixfold', () => {
    const broken = new BrokenConfigs();
    const message = `unknown output '${'\u202e\u3000\u0301'.repeat(200)}'`;
    broken.note('amy', 'web', '/a/web.conf', [{ ...ERROR, message }]);
    const problem = broken.get('amy/web')?.problem ?? '';
    assert.ok(problem.length <= 300, `${problem.length} characters`);
    assert.match(problem, /^\/a\/web\.conf:3: error: unknown output '\\u202e/);
    assert.ok(problem.endsWith('…'));
  });

  test('a file with warnings only, or fixed, is not broken', () => {
    const broken = new BrokenConfigs();
    broken.note('amy', 'web', '/a/web.conf', [ERROR]);
    broken.note('amy', 'web', '/a/web.conf', [WARNING]);
    assert.equal(broken.get('amy/web'), undefined);
  });

  test('keepOnly forgets the broken files of an owner that are gone', () => {
    const broken = new BrokenConfigs();
    broken.note('amy', 'web', '/a/web.conf', [ERROR]);
    broken.note('amy', 'db', '/a/db.conf', [ERROR]);
    broken.note('bob', 'web', '/b/web.conf', [ERROR]);
    broken.keepOnly('amy', new Set(['db']));
    assert.deepEqual(
      broken.all().map((entry) => entry.id),
      ['amy/db', 'bob/web'],
    );
    broken.clear('amy');
    assert.deepEqual(
      broken.all().map((entry) => entry.id),
      ['bob/web'],
    );
  });
});
