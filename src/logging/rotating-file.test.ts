import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { rotatingFileWriter } from './rotating-file.ts';

describe('rotatingFileWriter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-rotating-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('rotates before a line would pass the size, keeping whole lines and `keep` old files', () => {
    const path = join(dir, 'daemon-manager.log');
    const write = rotatingFileWriter(path, { maxBytes: 1000, keep: 2 });
    const line = (index: number): string => `${String(index).padStart(4, '0')} ${'x'.repeat(94)}\n`;
    for (let index = 0; index < 100; index++) write(line(index));
    for (const file of [path, `${path}.1`, `${path}.2`]) {
      const text = readFileSync(file, 'utf8');
      assert.ok(statSync(file).size <= 1000, `${file} is ${statSync(file).size} bytes`);
      assert.match(text, /^(\d{4} x{94}\n)+$/, `${file} holds whole lines`);
    }
    assert.ok(!existsSync(`${path}.3`), 'no more than keep old files');
    assert.ok(readFileSync(path, 'utf8').endsWith(line(99)), 'the newest line is in the file');
    assert.equal((statSync(path).mode & 0o777).toString(8), '600');
  });

  test('a line that cannot be written is dropped without an exception', () => {
    const write = rotatingFileWriter(join(dir, 'no-such-dir', 'x.log'), {
      maxBytes: 1000,
      keep: 1,
    });
    assert.doesNotThrow(() => write('lost\n'));
  });
});
