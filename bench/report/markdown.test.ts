import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeResultsMarkdown } from './markdown.ts';

test('RESULTS.md keeps the sections written by hand in results/notes/, in name order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-notes-'));
  try {
    mkdirSync(join(dir, 'results', 'notes'), { recursive: true });
    writeFileSync(join(dir, 'results', 'notes', '2026-12-03-b.md'), '## B\n\nsecond\n\n');
    writeFileSync(join(dir, 'results', 'notes', '2026-12-02-a.md'), '## A\n\nfirst\n');
    writeFileSync(join(dir, 'results', 'notes', 'draft.txt'), 'not a section\n');
    writeResultsMarkdown(dir);
    const text = readFileSync(join(dir, 'RESULTS.md'), 'utf8');
    assert.match(text, /^# Benchmark results\n/);
    assert.ok(text.endsWith('## A\n\nfirst\n\n## B\n\nsecond\n'), text);
    assert.doesNotMatch(text, /not a section/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
