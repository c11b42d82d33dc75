import { StringDecoder } from 'node:string_decoder';
import { printable } from '../protocol/printable.ts';

/**
 * A log's bytes on their way to a terminal: whatever a daemon wrote (and a daemon writes
 * what its clients send it) must not drive the terminal of whoever reads its log, root
 * included. Line breaks and tabs stay; every other control or format character is shown
 * escaped, as everywhere else in dmctl's output. Pieces may end inside a character: the
 * decoder keeps the start of it for the next piece.
 */
export class TerminalSafe {
  private readonly decoder = new StringDecoder('utf8');

  text(piece: Buffer): string {
    return safeLines(this.decoder.write(piece));
  }
}

function safeLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.split('\t').map(printable).join('\t'))
    .join('\n');
}

/**
 * Where a log's text goes: through TerminalSafe on a terminal, as it is elsewhere.
 * Another user's log always goes through it (`always`), piped too: `dmctl ID log | tail`
 * or a PAGER=cat ends on the reader's terminal all the same, and it is not the reader's
 * output to keep raw.
 */
export function logWriter(always = false): (piece: Buffer) => void {
  if (!always && !process.stdout.isTTY) return (piece) => process.stdout.write(piece);
  const safe = new TerminalSafe();
  return (piece) => process.stdout.write(safe.text(piece));
}
