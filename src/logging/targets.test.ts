import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileTarget } from './targets.ts';

describe("the manager's own log file, with a rotation policy", () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-rotating-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('rotates before a line would pass the size, keeping whole lines and `keep` old files', () => {
    const path = join(dir, 'daemon-manager.log');
    const target = fileTarget(path, { maxBytes: 1000, keep: 2 });
    const time = new Date('2026-12-02T00:00:00.000Z');
    for (let index = 0; index < 100; index++)
      assert.equal(
        target.send('info', `${String(index).padStart(4, '0')} ${'x'.repeat(60)}`, time),
        'ok',
      );
    target.close();
    for (const file of [path, `${path}.1`, `${path}.2`]) {
      const text = readFileSync(file, 'utf8');
      assert.ok(statSync(file).size <= 1000, `${file} is ${statSync(file).size} bytes`);
      assert.match(text, /^(\S+ info \d{4} x{60}\n)+$/, `${file} holds whole lines`);
    }
    assert.ok(!existsSync(`${path}.3`), 'no more than keep old files');
    assert.match(readFileSync(path, 'utf8'), /0099 x{60}\n$/, 'the newest line is in the file');
    assert.equal((statSync(path).mode & 0o777).toString(8), '600');
  });
});
