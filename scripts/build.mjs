// Bundles each entry point into one file under dist/: one file to read at start-up
// is what keeps dmctl's latency near Node's own floor. Then renders the man pages into
// man/ from src/reference/ (Node runs the TypeScript of src/ directly).
import { mkdirSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { MAN_PAGES, manFileName } from '../src/docs/man-pages.ts';
import { renderManPage } from '../src/docs/roff.ts';
import { VERSION } from '../src/version.ts';

await build({
  entryPoints: { 'daemon-manager': 'src/daemon/main.ts', dmctl: 'src/cli/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
});

mkdirSync('man', { recursive: true });
for (const page of MAN_PAGES)
  writeFileSync(`man/${manFileName(page)}`, renderManPage(page, VERSION));
