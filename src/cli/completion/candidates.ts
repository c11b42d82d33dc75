import { constants } from 'node:os';
import { SHELLS, VERBS, WAITED } from '../args.ts';

/** What completion needs to know besides the words: how to ask the manager for ids. */
export interface CompletionContext {
  /** The ids the caller may manage (full `user/name`), or none when no manager answers. */
  ids(config: string | undefined, personal: boolean): Promise<readonly string[]>;
  readonly user: string;
}

const OPTIONS = ['--config', '--json', '--personal', '--wait', '--help', '--version'];
const TAKES_ID = ['status', 'start', 'stop', 'restart', 'kill', 'log', 'tail', 'edit', 'why'];
const SIGNALS = Object.keys(constants.signals).map((name) => `-${name.slice(3)}`);

const isVerb = (word: string): boolean => (VERBS as readonly string[]).includes(word);

/**
 * The words that may come at the cursor of `dmctl WORDS... CURRENT`, those starting with
 * CURRENT: commands, options, signals after `kill`, and daemon ids, your own by their
 * short name when it is unambiguous. The shell scripts (scripts.ts) are thin: all of the
 * logic is here.
 */
export async function completeWords(
  words: readonly string[],
  context: CompletionContext,
): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const { positional, config, personal, waiting } = readWords(words.slice(0, -1));
  const editing = positional.includes('edit');
  // Only the owner (and root) may edit a daemon's file: others' ids are not offered.
  const mayEdit = (id: string): boolean =>
    !editing || context.user === 'root' || id.startsWith(`${context.user}/`);
  const ids = (): Promise<string[]> =>
    context.ids(config, personal).then((all) => {
      // Short names are judged among every id the caller sees, as the manager will.
      const short = shortIds(all, context.user);
      return short.filter((_, index) => mayEdit(all[index] ?? ''));
    });
  const killing = positional.includes('kill');
  const signalGiven = positional.some((word) => word.startsWith('-'));
  let candidates: readonly string[];
  if (killing && !signalGiven && current.startsWith('-')) candidates = SIGNALS;
  else if (current.startsWith('-')) candidates = OPTIONS;
  else candidates = await positionalCandidates(positional, killing && !signalGiven, ids);
  // --wait goes with start, stop and restart only.
  if (waiting)
    candidates = candidates.filter(
      (word) => !isVerb(word) || (WAITED as readonly string[]).includes(word),
    );
  return candidates.filter((word) => word.startsWith(current));
}

async function positionalCandidates(
  positional: readonly string[],
  wantsSignal: boolean,
  ids: () => Promise<string[]>,
): Promise<readonly string[]> {
  const [first, second] = positional;
  if (first === undefined) return [...VERBS.filter((verb) => verb !== 'help'), ...(await ids())];
  if (second === undefined) {
    if (first === 'completion') return SHELLS;
    if (!isVerb(first)) return TAKES_ID;
    return TAKES_ID.includes(first) ? ids() : [];
  }
  // `dmctl kill -HUP ` wants the id; `dmctl blog kill ` and `dmctl kill blog ` the signal.
  if (positional.length === 2 && first === 'kill' && second.startsWith('-')) return ids();
  return wantsSignal && positional.length === 2 ? SIGNALS : [];
}

/** Splits options from the words that matter, keeping what changes which manager is asked. */
function readWords(words: readonly string[]): {
  positional: string[];
  config: string | undefined;
  personal: boolean;
  waiting: boolean;
} {
  const positional: string[] = [];
  let config: string | undefined;
  let personal = false;
  let waiting = false;
  for (let index = 0; index < words.length; index++) {
    const word = words[index] ?? '';
    if (word === '--config' || word === '-c') config = words[++index];
    else if (word.startsWith('--config=')) config = word.slice('--config='.length);
    else if (word === '--personal') personal = true;
    else if (word === '--wait' || word.startsWith('--wait=')) waiting = true;
    else if (word.startsWith('--') || (word.startsWith('-') && positional.length === 0)) continue;
    else positional.push(word);
  }
  return { positional, config, personal, waiting };
}

/** Your own daemons by their bare name where that is unambiguous, as the original did. */
export function shortIds(ids: readonly string[], user: string): string[] {
  const count = new Map<string, number>();
  for (const id of ids) {
    const name = id.slice(id.indexOf('/') + 1);
    count.set(name, (count.get(name) ?? 0) + 1);
  }
  return ids.map((id) => {
    const name = id.slice(id.indexOf('/') + 1);
    return id.startsWith(`${user}/`) && count.get(name) === 1 ? name : id;
  });
}
