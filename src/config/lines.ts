/** A meaningful line of a configuration file: comment stripped, trimmed, not blank. */
export interface ConfigLine {
  readonly line: number;
  readonly text: string;
  /** Its comment began within a word (`ab#cd`, `=#fff`): a value meant whole, cut? */
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
    const cutWord = hash > 0 && !/\s/.test(raw[hash - 1] ?? ' ');
    result.push(
      cutWord ? { line: index + 1, text: stripped, cutWord } : { line: index + 1, text: stripped },
    );
  }
  return result;
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
