import { DAEMON_KEYS } from '../reference/daemon.ts';
import { DMCTL_COMMANDS, DMCTL_OPTIONS, STATUS_COLUMNS } from '../reference/dmctl.ts';
import { MANAGER_OPTIONS, MANAGER_SIGNALS } from '../reference/manager.ts';
import { MASTER_SECTIONS, SETTINGS } from '../reference/master.ts';
import type { Entry } from '../reference/types.ts';
import { markdownCell, plain } from './markup.ts';

/**
 * The README's reference parts, each between `<!-- reference: NAME -->` and
 * `<!-- end reference -->`, rendered from src/reference/ (`npm run docs` rewrites them).
 */
export const README_BLOCKS: Readonly<Record<string, () => string>> = {
  'master-sections': () =>
    table(
      ['Section', 'Line', 'Meaning'],
      MASTER_SECTIONS.filter((s) => s.name !== '[settings]').map((s) => [
        code(s.name),
        code(s.line),
        s.meaning,
      ]),
    ),
  settings: () =>
    table(
      ['Key', 'Default', 'Meaning'],
      SETTINGS.map((s) => [code(s.name), defaultOf(s), s.meaning]),
    ),
  'daemon-keys': () =>
    table(
      ['Key', 'Default', 'Meaning'],
      DAEMON_KEYS.map((k) => [
        k.name === 'export' ? code('export NAME=value') : code(`${k.name}=`),
        defaultOf(k),
        k.name === 'export' ? 'an environment variable; quotes are literal' : k.meaning,
      ]),
    ),
  'dmctl-commands': () => {
    const width = Math.max(...DMCTL_COMMANDS.map((c) => c.name.length)) + 2;
    const lines = DMCTL_COMMANDS.map((c) => `${c.name.padEnd(width)}${plain(c.meaning)}`);
    return ['```', ...lines, '```'].join('\n');
  },
  'dmctl-options': () => optionTable('Option', DMCTL_OPTIONS),
  'status-columns': () =>
    table(
      ['Column', '`--json`', 'Meaning'],
      STATUS_COLUMNS.map((c) => [code(c.name), code(c.field), c.meaning]),
    ),
  'manager-options': () => optionTable('Option', MANAGER_OPTIONS),
  signals: () => optionTable('Signal to the manager', MANAGER_SIGNALS, 'Effect'),
};

const BLOCK = /(<!-- reference: ([a-z-]+) -->\n)((?:(?!<!--)[\s\S])*?)(<!-- end reference -->)/g;

/** The README with every reference block rendered afresh; unknown block names are errors. */
export function renderReadme(text: string): string {
  return text.replace(BLOCK, (_, open: string, name: string, _old: string, close: string) => {
    const render = README_BLOCKS[name];
    if (render === undefined) throw new Error(`README.md: unknown reference block '${name}'`);
    return `${open}${render()}\n${close}`;
  });
}

/** The names of the blocks the README has, in order. */
export function blocksIn(text: string): string[] {
  return [...text.matchAll(BLOCK)].map((match) => match[2] ?? '');
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell) => markdownCell(cell)).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A table of names (each of `-c, --config FILE` in code) and their meaning. */
function optionTable(heading: string, entries: readonly Entry[], meaning = 'Meaning'): string {
  return table(
    [heading, meaning],
    entries.map((o) => [
      o.name
        .split(', ')
        .map((name) => code(name))
        .join(', '),
      o.meaning,
    ]),
  );
}

function code(text: string): string {
  return `\`${text}\``;
}

function defaultOf(entry: Entry): string {
  const value = entry.default ?? '';
  if (value === '') return '';
  // A default that is another key or a literal value is code; words are not.
  return /^(unset|\(required\)|the |`)/.test(value) ? value : code(value);
}
