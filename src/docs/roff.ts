import type { Entry } from '../reference/types.ts';
import { roffName, roffText } from './markup.ts';

/** A part of a man page section. */
export type Block =
  /** A paragraph of reference-style text (`code` marked). */
  | { readonly p: string }
  /** A list of reference entries, each a tagged paragraph. */
  | { readonly entries: readonly Entry[]; readonly defaults?: boolean }
  /** Lines shown verbatim, indented (an example). */
  | { readonly example: readonly string[] };

export interface ManPage {
  /** `dmctl`, `daemon-manager.conf`... */
  readonly name: string;
  readonly section: 1 | 5 | 8;
  /** What the NAME line says after the dash. */
  readonly summary: string;
  /** Raw roff lines of the synopsis (already formatted). */
  readonly synopsis?: readonly string[];
  readonly sections: readonly { readonly heading: string; readonly blocks: readonly Block[] }[];
}

const MANUALS = { 1: 'User Commands', 5: 'File Formats', 8: 'System Administration' } as const;

/** Renders a page as man(7) roff, the macros every man reader knows. */
export function renderManPage(page: ManPage, version: string): string {
  const lines = [
    `.TH "${page.name.toUpperCase()}" ${page.section} "" "daemon-manager ${version}" "${MANUALS[page.section]}"`,
    '.SH NAME',
    `${page.name.replaceAll('-', '\\-')} \\- ${roffText(page.summary)}`,
  ];
  if (page.synopsis) lines.push('.SH SYNOPSIS', ...page.synopsis);
  for (const section of page.sections) {
    lines.push(`.SH ${section.heading.toUpperCase()}`);
    for (const block of section.blocks) lines.push(...renderBlock(block));
  }
  return `${lines.join('\n')}\n`;
}

function renderBlock(block: Block): string[] {
  if ('p' in block) return ['.PP', roffText(block.p)];
  if ('example' in block)
    return ['.PP', '.RS 4', '.nf', ...block.example.map(exampleLine), '.fi', '.RE'];
  return block.entries.flatMap((entry) => {
    const shown = entry.default !== undefined && entry.default !== '' && block.defaults;
    return [
      '.TP',
      roffName(entry.name),
      roffText(shown ? `${entry.meaning} ${defaultNote(entry.default ?? '')}` : entry.meaning),
    ];
  });
}

/** `(default: 10s)`; a note that is no value (`(required)`) is shown as it is. */
function defaultNote(value: string): string {
  return value.startsWith('(') ? value : `(default: ${value})`;
}

/** A verbatim line: escaped, and protected from being read as a request. */
function exampleLine(line: string): string {
  const escaped = line.replaceAll('\\', '\\e').replaceAll('-', '\\-');
  return /^[.']/.test(escaped) || escaped === '' ? `\\&${escaped}` : escaped;
}
