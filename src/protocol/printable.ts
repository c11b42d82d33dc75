/**
 * Text that came from a user (file names, config values, ids, signal names, messages
 * quoting them) and is about to reach a person: a terminal, the manager's log, an audit
 * line. A terminal obeys ESC sequences (ESC and the C1 controls such as U+009B), a CR
 * makes the next text overwrite a line, a newline or U+2028 forges a new log line, and
 * the bidirectional overrides (U+202E) reorder what is shown. All of them, and every
 * other control or format character, are shown as escapes instead: `\r`, `\x1b`,
 * `\u202e`. So are the characters that show nothing at all, with which a name can pass
 * for another (U+034F, the Hangul fillers, variation selectors), private-use and
 * unassigned ones, and combining marks that make a column taller or wider than its
 * character: one with nothing to combine with, and every one past the second on a
 * character (stacked by the dozen, they spill over the rows above and below); so are
 * Hangul vowel and final jamo that do not follow the jamo they join (a final consonant
 * after a vowel, a vowel after an initial): terminals draw them with no width, and an
 * outside review stacked 40 on one character. Nothing
 * else changes, so ordinary text (accents, CJK, Devanagari) stays readable.
 */

/**
 * Control (Cc), format (Cf), line and paragraph separator (Zl, Zp), private-use (Co),
 * unassigned (Cn) and lone surrogate (Cs) characters, those Unicode says to show as
 * nothing (Default_Ignorable_Code_Point), and the combining marks described above.
 */
const UNPRINTABLE =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]|(?<=^|[\s\p{C}\p{Z}])\p{M}|(?<=\p{M}{2})\p{M}|(?<![\u1100-\u115f\ua960-\ua97c])[\u1161-\u11a7\ud7b0-\ud7c6]|(?<![\u1161-\u11a7\ud7b0-\ud7c6])[\u11a8-\u11ff\ud7cb-\ud7fb]/gu;

/** What JSON.stringify leaves raw of those (it escapes U+0000-U+001F itself). */
const RAW_IN_JSON =
  /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}]/gu;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Printable ASCII alone, most of what is printed: nothing to escape, quickly told. */
const PLAIN_ASCII = /^[ -~]*$/;

/** `text` with every non-printable character escaped; safe for one line of a terminal or log. */
export function printable(text: string): string {
  return PLAIN_ASCII.test(text) ? text : text.replace(UNPRINTABLE, escapeOne);
}

/**
 * `text` made printable and cut to at most `most` characters of what is shown, `ending`
 * put after what was cut: an escape takes up to 9 characters, so a cut made before
 * escaping let a quoted line of 600 characters reach 1,949 (an outside review).
 */
export function printableCut(text: string, most: number, ending = '…'): string {
  // An escape only lengthens: what is past the first most + 1 characters is never shown,
  // and a 250 KB quote is not escaped whole (it held a rescan up for seconds).
  const shown = printable(text.length > most + 1 ? text.slice(0, most + 1) : text);
  if (shown.length <= most) return shown;
  // Never half an escape: the cut goes back to the last character shown whole.
  let end = most;
  const tail = /\\(?:x[0-9a-f]?|u[0-9a-f]{0,3}|u\{[0-9a-f]{0,5})?$/.exec(shown.slice(0, end));
  if (tail !== null) end -= tail[0].length;
  // Nor half of a character above U+FFFF.
  const last = shown.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return shown.slice(0, end) + ending;
}

/** Each line of `text` made printable; the line breaks between them are kept. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/**
 * JSON whose text holds no raw control character: JSON.stringify escapes U+0000-U+001F
 * but leaves DEL, the C1 controls, U+2028 and the bidi overrides raw. They become
 * `\uXXXX` escapes, which every JSON parser reads back as the same characters.
 */
export function printableJson(value: unknown, indent?: number): string {
  const json = JSON.stringify(value, null, indent);
  // Mostly ASCII without DEL already (rows are made printable as they are built): told by
  // two native scans, where the regular expression over a 600 KB status reply was a
  // quarter of the manager's time under a flood of them (V8's lite mode interprets it).
  if (Buffer.byteLength(json) === json.length && !json.includes('\x7f')) return json;
  // Else the full class is tried on each distinct run of other characters alone (most
  // often none is raw: a `…`, an `é`): over the whole text, a status reply of 800 broken
  // files (590 KB, a `…` in each problem) took 43 ms, and one user asking it in a loop
  // made another's respawns 8 times slower (an outside review, 74a, F1). Every character
  // the class escapes is past ASCII, or DEL.
  const runs = json.match(PAST_ASCII);
  if (runs === null || ![...new Set(runs)].some((run) => RAW_IN_JSON_ONE.test(run))) return json;
  return json.replace(RAW_IN_JSON, unicodeEscape);
}

/** Runs of characters other than printable ASCII (DEL included), in UTF-16 units. */
const PAST_ASCII = /[^ -~]+/g;
/** RAW_IN_JSON for a test: no `g`, so no lastIndex carried from one test to the next. */
const RAW_IN_JSON_ONE = new RegExp(RAW_IN_JSON.source, 'u');

function escapeOne(character: string): string {
  const named = NAMED[character];
  if (named !== undefined) return named;
  const code = character.codePointAt(0) ?? 0;
  if (code <= 0xff) return `\\x${hex(code, 2)}`;
  return code <= 0xffff ? `\\u${hex(code, 4)}` : `\\u{${hex(code, 5)}}`;
}

/** JSON's own escape: one `\uXXXX` per UTF-16 unit (a pair above U+FFFF). */
function unicodeEscape(character: string): string {
  let escaped = '';
  for (let index = 0; index < character.length; index++)
    escaped += `\\u${hex(character.charCodeAt(index), 4)}`;
  return escaped;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/**
 * How many terminal columns `text` may take: one per ASCII character, two per any other.
 * Wide characters (CJK, U+3000, most emoji) take two, and in a CJK locale so do the
 * "ambiguous" ones (Greek, Cyrillic, `…`): counting one would let text a user wrote run
 * past a table's cut, wrap, and show its remainder as a row of its own. Never fewer than
 * shown; a combining accent counted two only pads a column a little more.
 */
export function displayWidth(text: string): number {
  if (PLAIN_ASCII.test(text)) return text.length;
  let width = 0;
  for (const character of text) width += (character.codePointAt(0) ?? 0) < 0x80 ? 1 : 2;
  return width;
}

/** The longest start of `text` at most `width` columns wide (see displayWidth). */
export function sliceToWidth(text: string, width: number): string {
  if (PLAIN_ASCII.test(text)) return text.slice(0, width);
  let used = 0;
  let end = 0;
  for (const character of text) {
    used += (character.codePointAt(0) ?? 0) < 0x80 ? 1 : 2;
    if (used > width) break;
    end += character.length;
  }
  return text.slice(0, end);
}

/**
 * Each line of `text` cut to `columns` (see displayWidth), `…` ending a line that was cut.
 * For text printed on a terminal: a line of what a user wrote that ran past the edge
 * would wrap, and its rest read as a line of its own (an outside review forged entries of
 * root's `dmctl why`, and problems of another user's file, so). `…` may take two columns.
 */
export function fitLines(text: string, columns: number): string {
  return text
    .split('\n')
    .map((line) => (displayWidth(line) <= columns ? line : `${sliceToWidth(line, columns - 2)}…`))
    .join('\n');
}

/**
 * `text` cut to at most `most` characters, `…` ending what was cut. For text a user
 * wrote that goes into every status row, log line and `why` entry about a daemon.
 */
export function cutText(text: string, most: number): string {
  if (text.length <= most) return text;
  const characters = Array.from(text);
  return characters.length <= most ? text : `${characters.slice(0, most - 1).join('')}…`;
}
