// Bundles each entry point into one file under dist/: one file to read at start-up
// is what keeps dmctl's latency near Node's own floor.
import { build } from 'esbuild';

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
