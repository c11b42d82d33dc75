import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureTool } from '../../test/helpers/debian.ts';
import { VERSION } from '../version.ts';
import { MAN_PAGES, manFileName } from './man-pages.ts';
import { blocksIn, README_BLOCKS, renderReadme } from './readme.ts';
import { renderManPage } from './roff.ts';

const README = join(import.meta.dirname, '../../README.md');

describe('the README says what the reference says', () => {
  const text = readFileSync(README, 'utf8');

  test('every reference block is in the README', () => {
    assert.deepEqual(blocksIn(text).sort(), Object.keys(README_BLOCKS).sort());
  });

  for (const name of Object.keys(README_BLOCKS)) {
    test(`the README's ${name} block is up to date (else: npm run docs)`, () => {
      const current = blocksOf(text).get(name);
      const fresh = blocksOf(renderReadme(text)).get(name);
      assert.equal(
        current,
        fresh,
        `README.md block '${name}' differs from src/reference: run npm run docs`,
      );
    });
  }
});

describe('the man pages render cleanly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-man-'));
  before(() => ensureTool('groff'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const page of MAN_PAGES) {
    test(`${manFileName(page)} renders with groff without a warning`, () => {
      const file = join(dir, manFileName(page));
      writeFileSync(file, renderManPage(page, VERSION));
      // -ww: every warning; -z: no output, only the diagnostics.
      const result = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], {
        encoding: 'utf8',
      });
      assert.equal(result.error, undefined, 'groff is missing (apt-get install groff-base)');
      assert.equal(result.stderr, '');
      assert.equal(result.status, 0);
      const text = execFileSync('groff', ['-man', '-Tutf8', file], { encoding: 'utf8' });
      assert.match(text, new RegExp(page.name.toUpperCase()));
    });
  }
});

function blocksOf(text: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of text.matchAll(
    /<!-- reference: ([a-z-]+) -->\n((?:(?!<!--)[\s\S])*?)<!-- end reference -->/g,
  ))
    blocks.set(match[1] ?? '', match[2] ?? '');
  return blocks;
}
