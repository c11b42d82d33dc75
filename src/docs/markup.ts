/**
 * The reference's text marks only `code spans`. These turn it into plain text (--help),
 * Markdown (the README) and roff (the man pages).
 */

const CODE = /`([^`]*)`/g;

/** Text for a terminal: the marks dropped. */
export function plain(text: string): string {
  return text.replace(CODE, '$1');
}

/** Text for a Markdown table cell: code spans kept, pipes escaped. */
export function markdownCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** Escapes text for roff: backslashes, and dashes in code (so that `--config` copies right). */
function escapeRoff(text: string, code: boolean): string {
  const escaped = text.replaceAll('\\', '\\e');
  return code ? escaped.replaceAll('-', '\\-') : escaped;
}

/** One line of roff body text: code in bold. A leading `.` or `'` would be a request. */
export function roffText(text: string): string {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(CODE)) {
    out += escapeRoff(text.slice(last, match.index), false);
    out += `\\fB${escapeRoff(match[1] ?? '', true)}\\fR`;
    last = match.index + match[0].length;
  }
  out += escapeRoff(text.slice(last), false);
  return /^[.']/.test(out) ? `\\&${out}` : out;
}

/**
 * A synopsis-like name in roff: options and literal words in bold, placeholders (words in
 * capitals, such as FILE or ID) in italics: `dmctl [ID] kill -SIGNAL`, `-c, --config FILE`.
 */
export function roffName(name: string): string {
  return name.split(' ').map(roffWord).join(' ');
}

function roffWord(word: string): string {
  const [, open = '', dashes = '', body = '', close = '', comma = ''] =
    /^(\[?)(-*)(.*?)(\]?)(,?)$/.exec(word) ?? [];
  const placeholder = /^[A-Z][A-Z_]*$/.test(body) && !body.startsWith('SIG');
  const inner = placeholder
    ? `${dashes === '' ? '' : `\\fB${escapeRoff(dashes, true)}\\fR`}\\fI${body}\\fR`
    : `\\fB${escapeRoff(dashes + body, true)}\\fR`;
  return `${open}${inner}${close}${comma}`;
}
