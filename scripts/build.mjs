// Bundles each entry point into one file under dist/ (dmctl: the file status needs, and
// one more per module the other commands import when they run): one file to read and
// little code to compile at start-up is what keeps dmctl's latency near Node's own floor. Then renders the man pages into
// man/ from src/reference/ (Node runs the TypeScript of src/ directly).
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { MAN_PAGES, manFileName } from '../src/docs/man-pages.ts';
import { renderManPage } from '../src/docs/roff.ts';
import { VERSION } from '../src/version.ts';

const common = {
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
};
await build({ ...common, entryPoints: { 'daemon-manager': 'src/daemon/main.ts' } });

// dmctl's commands other than status import their modules when they run (src/cli/main.ts):
// each such import is bundled into a file of its own, dist/dmctl-NAME.mjs, which only the
// commands that need it read. Whole files, not esbuild's shared chunks: status reads one
// file (a module costs its own load and link, whatever its size), and code a lazy file
// shares with it is only duplicated there, where a command that is no hurry loads it.
const lazy = new Map();
const lazyImports = {
  name: 'dmctl-lazy-imports',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const source = join(args.resolveDir, args.path);
      const name = `dmctl-${basename(source, '.ts')}`;
      if ((lazy.get(name) ?? source) !== source) throw new Error(`two lazy imports named ${name}`);
      lazy.set(name, source);
      return { path: `./${name}.mjs`, external: true };
    });
  },
};
await build({ ...common, entryPoints: { dmctl: 'src/cli/main.ts' }, plugins: [lazyImports] });
await build({ ...common, entryPoints: Object.fromEntries(lazy) });

mkdirSync('man', { recursive: true });
for (const page of MAN_PAGES)
  writeFileSync(`man/${manFileName(page)}`, renderManPage(page, VERSION));
