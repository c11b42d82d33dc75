import { printable } from '../protocol/printable.ts';

/**
 * A log's bytes on their way to a terminal: whatever a daemon wrote (and a daemon writes
 * what its clients send it) must not drive the terminal of whoever reads its log, root
 * included. Line breaks and tabs stay; every other control or format character is shown
 * escaped, as everywhere else in dmctl's output, and so is each byte that is not part of
 * valid UTF-8 (`\xfe`): decoded as U+FFFD, a binary dump read by a help desk lost them
 * (an outside review, 64b, F7). Pieces may end inside a character: its start is kept for
 * the next piece.
 */
export class TerminalSafe {
  private carry: Buffer = Buffer.alloc(0);

  text(piece: Buffer): string {
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, piece]) : piece;
    let shown = '';
    let start = 0;
    let index = 0;
    while (index < bytes.length) {
      const byte = bytes[index] ?? 0;
      if (byte < 0x80) {
        index++;
        continue;
      }
      const length = sequenceLength(bytes, index);
      if (length > 0) {
        index += length;
        continue;
      }
      // The start of a character the next piece ends.
      if (length < 0) break;
      shown += `${safeLines(bytes.toString('utf8', start, index))}\\x${byte.toString(16).padStart(2, '0')}`;
      start = ++index;
    }
    shown += safeLines(bytes.toString('utf8', start, index));
    this.carry = Buffer.from(bytes.subarray(index));
    return shown;
  }
}

/**
 * The length of the UTF-8 sequence at `at` (its first byte 0x80 or above): 0 when it is
 * not valid UTF-8 (a stray continuation byte, an overlong form, a surrogate, past
 * U+10FFFF), -1 when `bytes` ends before it does, valid so far.
 */
export function sequenceLength(bytes: Buffer, at: number): number {
  const lead = bytes[at] ?? 0;
  const [length, low, high] =
    lead >= 0xc2 && lead <= 0xdf
      ? [2, 0x80, 0xbf]
      : lead === 0xe0
        ? [3, 0xa0, 0xbf]
        : lead === 0xed
          ? [3, 0x80, 0x9f]
          : lead >= 0xe1 && lead <= 0xef
            ? [3, 0x80, 0xbf]
            : lead === 0xf0
              ? [4, 0x90, 0xbf]
              : lead >= 0xf1 && lead <= 0xf3
                ? [4, 0x80, 0xbf]
                : lead === 0xf4
                  ? [4, 0x80, 0x8f]
                  : [0, 0, 0];
  if (length === 0) return 0;
  for (let index = 1; index < length; index++) {
    if (at + index >= bytes.length) return -1;
    const byte = bytes[at + index] ?? 0;
    const [from, to] = index === 1 ? [low, high] : [0x80, 0xbf];
    if (byte < from || byte > to) return 0;
  }
  return length;
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
