/** A meaningful line of a configuration file: comment stripped, trimmed, not blank. */
export interface ConfigLine {
  readonly line: number;
  readonly text: string;
  /**
   * Its comment began within a word (`ab#cd`, `=#fff`) or quotes (`"a #b"`): a value meant
   * whole, cut?
   */
  readonly cutWord?: true;
}

/**
 * Splits configuration text into meaningful lines. `#` starts a comment anywhere on a
 * line (as in the original Daemon Manager, so a literal `#` cannot appear in a value).
 */
export function meaningfulLines(text: string): ConfigLine[] {
  const result: ConfigLine[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index] ?? '';
    const hash = raw.indexOf('#');
    const stripped = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (stripped === '') continue;
    const before = raw.slice(0, Math.max(0, hash));
    const cutWord = hash > 0 && (!/\s/.test(raw[hash - 1] ?? ' ') || unbalancedQuotes(before));
    result.push(
      cutWord ? { line: index + 1, text: stripped, cutWord } : { line: index + 1, text: stripped },
    );
  }
  return result;
}

/** Whether `text` leaves a quote open: an odd number of `"` or of `'` (an outside review, 75a, F2). */
function unbalancedQuotes(text: string): boolean {
  return (text.split('"').length - 1) % 2 === 1 || (text.split("'").length - 1) % 2 === 1;
}

/** Decodes file bytes as UTF-8 text, or says why they are not a text file. */
export function decodeConfigText(bytes: Uint8Array): { text: string } | { error: string } {
  if (bytes.includes(0)) return { error: 'contains NUL bytes: not a text file' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { error: 'is not valid UTF-8 text' };
  }
}
