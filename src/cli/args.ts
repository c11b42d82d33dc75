import { durationProblem, parseDuration } from '../config/durations.ts';
import { usageText } from '../docs/usage.ts';
import { parseSignal, unknownSignal } from '../process/signals.ts';
import { DMCTL_COMMANDS, DMCTL_OPTIONS } from '../reference/dmctl.ts';

/** What dmctl was asked to do. */
export interface CliCommand {
  readonly command: CliVerb;
  readonly id: string | undefined;
  readonly signal: string | undefined;
}

export interface CliArgs extends CliCommand {
  readonly config: string | undefined;
  readonly json: boolean;
  readonly personal: boolean;
  /** `--wait[=DURATION]`: how long start, stop or restart waits for the outcome. */
  readonly waitMs: number | undefined;
}

/** How long `--wait` waits when no duration is given. */
export const DEFAULT_WAIT_MS = 90_000;
/** The commands `--wait` goes with. */
export const WAITED: readonly CliVerb[] = ['start', 'stop', 'restart'];

export const VERBS = [
  'status',
  'list',
  'rescan',
  'start',
  'stop',
  'restart',
  'kill',
  'log',
  'tail',
  'edit',
  'problems',
  'why',
  'completion',
  'help',
] as const;
/** A command word, or `version` (asked with --version or -V only: it may name a daemon). */
export type CliVerb = (typeof VERBS)[number] | 'version';
const NEEDS_ID: readonly CliVerb[] = [
  'start',
  'stop',
  'restart',
  'kill',
  'log',
  'tail',
  'edit',
  'why',
];
/** The commands that change something (see parseWords). */
const CHANGES: readonly CliVerb[] = ['rescan', 'start', 'stop', 'restart', 'kill', 'edit'];
/** The shells `dmctl completion SHELL` knows. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;

export const USAGE = usageText(
  'dmctl [OPTION...] [COMMAND | ID COMMAND | COMMAND ID]',
  [DMCTL_COMMANDS, DMCTL_OPTIONS],
  "ID is USER/NAME, or NAME when that is unambiguous. 'dmctl stop ID' works too.",
);

function isVerb(word: string | undefined): word is CliVerb {
  return word !== undefined && (VERBS as readonly string[]).includes(word);
}

function looksLikeSignal(word: string | undefined): boolean {
  return word !== undefined && /^-[A-Za-z0-9]+$/.test(word);
}

/** Parses dmctl's arguments, in either order of command and id. */
export function parseCliArgs(argv: readonly string[]): CliArgs | { error: string } {
  let config: string | undefined;
  let json = false;
  let personal = false;
  let version = false;
  let waitMs: number | undefined;
  const words: string[] = [];
  let afterOptions: readonly string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--') {
      // The end of the options, as everywhere: what follows are words.
      afterOptions = argv.slice(index + 1);
      break;
    }
    if (arg === '--json') json = true;
    else if (arg === '--personal') personal = true;
    else if (arg === '--help' || arg === '-h') words.push('help');
    else if (arg === '--version' || arg === '-V') version = true;
    else if (arg === '--config' || arg === '-c' || arg.startsWith('--config=')) {
      // Twice, the last won silently (an outside review, 74a, F3): which one was meant?
      if (config !== undefined)
        return { error: `--config is given twice ('${config}' and the one after)` };
      config = arg.startsWith('--config=') ? arg.slice('--config='.length) : argv[++index];
      if (config === undefined) return { error: `${arg} needs a file` };
    } else if (arg === '--wait') waitMs = DEFAULT_WAIT_MS;
    else if (arg.startsWith('--wait=')) {
      waitMs = parseDuration(arg.slice('--wait='.length));
      if (waitMs === 0) return { error: `--wait must be longer than 0s, such as 30s or 2m` };
      if (waitMs === undefined)
        return { error: durationProblem('--wait', arg.slice(7), '30s or 2m') };
    } else if (arg.startsWith('--')) return { error: `unknown option '${arg.split('=')[0]}'` };
    else words.push(arg);
  }
  if (version)
    return {
      command: 'version',
      id: undefined,
      signal: undefined,
      config,
      json,
      personal,
      waitMs: undefined,
    };
  const command = parseWords([...words, ...afterOptions]);
  // No daemon or user name starts with '-': such a word is an option, or kill's signal
  // (whose mistakes parseWords explains).
  const failedKill = 'error' in command && words.includes('kill');
  const signal = 'error' in command ? undefined : command.signal;
  const option = words.find((word) => word.startsWith('-') && word !== signal && !failedKill);
  if (option !== undefined) return { error: `unknown option '${option}'` };
  if ('error' in command) return command;
  if (waitMs !== undefined && !WAITED.includes(command.command))
    return { error: `--wait goes with ${WAITED.join(', ')}, not '${command.command}'` };
  return { ...command, config, json, personal, waitMs };
}

/** Did the command line ask for JSON? (Known even when the rest of it is wrong.) */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function parseWords(words: readonly string[]): CliCommand | { error: string } {
  const [first, second, ...rest] = words;
  if (first === undefined) return { command: 'status', id: undefined, signal: undefined };
  let command: CliVerb;
  let id: string | undefined;
  let extra: string[];
  if (second === undefined) {
    if (!isVerb(first)) return { command: 'status', id: first, signal: undefined };
    command = first;
    id = undefined;
    extra = [];
  } else if (isVerb(second)) {
    // The modern order, `dmctl ID COMMAND`, wins when both words could be commands; but
    // not for a command that changes something: `dmctl status stop` (the status of the
    // daemon `stop`, in the original's order) stopped the daemon `status` (an outside
    // review, 72b, F3). Nor when the first word changes something: `dmctl start help` (the
    // original's order: start the daemon `help`) printed the usage and exit 0, and `dmctl
    // stop list` said "unknown daemon 'stop'" (74a, F6). Named USER/NAME, a daemon is
    // never a command.
    if (isVerb(first) && (CHANGES.includes(second) || CHANGES.includes(first)))
      return {
        error: `'${first} ${second}' reads two ways ('${first}' and '${second}' are both commands and may both be daemons): name the daemon as USER/NAME, like: dmctl USER/${first} ${second}, or dmctl ${first} USER/${second}`,
      };
    [command, id, extra] = [second, first, rest];
  } else if (isVerb(first)) {
    [command, id, extra] = [first, second, rest];
  } else {
    return {
      error: `unknown command: neither '${first}' nor '${second}' is a command (see dmctl help)`,
    };
  }
  if (command === 'kill') {
    // `dmctl kill -HUP ID` and `dmctl ID kill -HUP` and `dmctl kill ID HUP` all work.
    let signal: string | undefined;
    // No daemon or user name starts with '-', so a lone `-9` is a signal without an id.
    if (id === undefined || (looksLikeSignal(id) && extra[0] === undefined))
      return { error: "'kill' needs a daemon id, like: dmctl ID kill -HUP" };
    if (looksLikeSignal(id) && extra[0] !== undefined) [signal, id] = [id, extra.shift()];
    else signal = extra.shift();
    if (signal === undefined) return { error: 'kill needs a signal, like: dmctl ID kill -HUP' };
    // A usage mistake, said before asking (exit status 2), as the others are.
    if (parseSignal(signal) === undefined) return { error: unknownSignal(signal) };
    if (extra.length > 0) return { error: `unexpected argument '${extra[0]}'` };
    return { command, id, signal };
  }
  if (extra.length > 0) return { error: `unexpected argument '${extra[0]}'` };
  if (command === 'completion' && !(SHELLS as readonly (string | undefined)[]).includes(id))
    return { error: `'completion' needs a shell: dmctl completion ${SHELLS.join('|')}` };
  if (NEEDS_ID.includes(command) && id === undefined)
    return { error: `'${command}' needs a daemon id, like: dmctl ID ${command}` };
  return { command, id, signal: undefined };
}
