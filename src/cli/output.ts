import { fitLines, printableJson, printableLines } from '../protocol/printable.ts';

/**
 * Everything dmctl prints. Much of it came from users (daemon names, config values quoted
 * in problems, log paths, ids typed by a caller): control characters are escaped here,
 * at the last step before the terminal, whatever the manager sent. With --json, results
 * and errors are JSON on stdout (an error as `{"ok":false,"error":...}`).
 */
export class Output {
  readonly json: boolean;

  constructor(json: boolean) {
    this.json = json;
  }

  /** Text for stdout; each line made printable. */
  out(text: string): void {
    process.stdout.write(printableLines(text));
  }

  /**
   * Text for stdout, each line made printable and, on a terminal, cut to its width (see
   * fitLines): what a user wrote must not wrap into a line that seems to be another.
   */
  outFitted(text: string): void {
    const printed = printableLines(text);
    process.stdout.write(
      process.stdout.isTTY ? fitLines(printed, process.stdout.columns || 80) : printed,
    );
  }

  /**
   * The status table, as formatStatusTable made it: each cell printable already, and the
   * colours of a terminal its own (they must reach the terminal as they are). Whatever
   * else a manager sent (or something answering in its place) is escaped.
   */
  table(text: string): void {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the colours are the point
    const plain = text.replace(/\u001b\[\d*m/g, '');
    process.stdout.write(printableLines(plain) === plain ? text : printableLines(text));
  }

  /** Text for stderr (problems, notes); each line made printable. */
  note(text: string): void {
    process.stderr.write(printableLines(text));
  }

  /** A value as JSON on stdout. */
  value(value: unknown, indent?: number): void {
    process.stdout.write(`${printableJson(value, indent)}\n`);
  }

  /** Reports a failure and returns the exit status: JSON on stdout with --json, else `dmctl: ...` on stderr. */
  fail(message: string, status = 1): number {
    if (this.json) this.value({ ok: false, error: message });
    else this.note(`dmctl: ${message}\n`);
    return status;
  }
}
