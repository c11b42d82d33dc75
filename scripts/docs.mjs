// `npm run docs`: rewrites the README's reference blocks from src/reference/, so that
// adding a config key or a command is one entry there (a test checks they agree).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderReadme } from '../src/docs/readme.ts';

const before = readFileSync('README.md', 'utf8');
const after = renderReadme(before);
if (after !== before) writeFileSync('README.md', after);
process.stdout.write(after === before ? 'README.md is up to date\n' : 'README.md rewritten\n');
