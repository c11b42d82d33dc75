import type { Entry } from '../reference/types.ts';
import { plain } from './markup.ts';

const COLUMNS = 80;

/** `--help` text: a usage line, then each entry's name and meaning in two columns. */
export function usageText(
  usage: string,
  groups: readonly (readonly Entry[])[],
  footer = '',
): string {
  const entries = groups.flat();
  const width = Math.max(...entries.map((entry) => entry.name.length)) + 4;
  const blocks = groups.map((group) =>
    group
      .map((entry) => `  ${entry.name.padEnd(width - 2)}${wrap(plain(entry.meaning), width)}`)
      .join('\n'),
  );
  return `usage: ${usage}\n\n${blocks.join('\n\n')}\n${footer === '' ? '' : `\n${footer}\n`}`;
}

/** Wraps text to the terminal's usual 80 columns, continuing lines under the first. */
function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > COLUMNS) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}
