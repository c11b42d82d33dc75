import { type LimitRule, parseLimitValues } from './limits.ts';
import { meaningfulLines } from './lines.ts';
import { type Problem, ProblemList } from './problems.ts';
import { applySetting, DEFAULT_SETTINGS, type Settings } from './settings.ts';

/** A user, or (`@name`) every member of a Unix group. */
export interface Principal {
  readonly kind: 'user' | 'group';
  readonly name: string;
}

/** One `left: right, right` line of `[can_run_as]` or `[manages]`. */
export interface Rule {
  readonly line: number;
  readonly left: Principal;
  readonly right: readonly Principal[];
}

/** The master config as written, before users and groups are looked up. */
export interface MasterConfig {
  readonly file: string;
  readonly settings: Settings;
  readonly canRunAs: readonly Rule[];
  readonly manages: readonly Rule[];
  /** `[limits]`: per-user and per-group limits over the `[settings]` defaults. */
  readonly limits: readonly LimitRule[];
}

const SECTIONS = ['settings', 'can_run_as', 'runs_as', 'manages', 'limits'] as const;
type Section = (typeof SECTIONS)[number];
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;

/** Parses master config text; reports every problem in the file at once. */
export function parseMasterConfig(
  text: string,
  file: string,
): { config: MasterConfig; problems: Problem[] } {
  const problems = new ProblemList(file);
  const settings: { -readonly [K in keyof Settings]: Settings[K] } = { ...DEFAULT_SETTINGS };
  const canRunAs: Rule[] = [];
  const manages: Rule[] = [];
  const limits: LimitRule[] = [];
  /** The line each `[settings]` key was first set on. */
  const settingLines = new Map<string, number>();
  let section: Section | undefined;

  for (const { line, text: entry } of meaningfulLines(text)) {
    const header = /^\[(.*)\]$/.exec(entry);
    if (header) {
      const name = (header[1] ?? '').trim();
      if (!(SECTIONS as readonly string[]).includes(name)) {
        problems.error(
          line,
          `unknown section [${name}] (known: [settings], [can_run_as], [manages], [limits])`,
        );
        section = undefined;
        continue;
      }
      section = name as Section;
      if (section === 'runs_as')
        problems.warning(line, '[runs_as] is the old name of [can_run_as]');
      continue;
    }
    if (section === undefined) {
      problems.error(line, 'this line is outside any known section');
    } else if (section === 'settings') {
      const equals = entry.indexOf('=');
      if (equals === -1) {
        problems.error(line, `expected 'key = value' in [settings], got '${entry}'`);
        continue;
      }
      const key = entry.slice(0, equals).trim();
      const first = settingLines.get(key);
      if (first !== undefined)
        problems.warning(line, `'${key}' is set again (first on line ${first}); this one counts`);
      else settingLines.set(key, line);
      const message = applySetting(settings, key, entry.slice(equals + 1).trim());
      if (message !== undefined) problems.error(line, message);
    } else if (section === 'limits') {
      const rule = parseLimitRule(entry, line, problems);
      if (rule) limits.push(rule);
    } else {
      const rule = parseRule(entry, line, problems);
      if (rule) (section === 'manages' ? manages : canRunAs).push(rule);
    }
  }
  return { config: { file, settings, canRunAs, manages, limits }, problems: problems.items };
}

function parseRule(entry: string, line: number, problems: ProblemList): Rule | undefined {
  const colon = entry.indexOf(':');
  const leftText = (colon === -1 ? entry : entry.slice(0, colon)).trim();
  const rightText = colon === -1 ? '' : entry.slice(colon + 1);
  const left = parsePrincipal(leftText, line, problems);
  const right: Principal[] = [];
  for (const item of rightText.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const principal = parsePrincipal(trimmed, line, problems);
    if (principal) right.push(principal);
  }
  return left ? { line, left, right } : undefined;
}

function parseLimitRule(entry: string, line: number, problems: ProblemList): LimitRule | undefined {
  const colon = entry.indexOf(':');
  if (colon === -1) {
    problems.error(line, `expected 'user: limit=value, ...' in [limits], got '${entry}'`);
    return undefined;
  }
  const left = parsePrincipal(entry.slice(0, colon).trim(), line, problems);
  const { values, ports, errors } = parseLimitValues(entry.slice(colon + 1));
  for (const error of errors) problems.error(line, error);
  if (!left || errors.length > 0) return undefined;
  return ports === undefined ? { line, left, values } : { line, left, values, ports };
}

function parsePrincipal(text: string, line: number, problems: ProblemList): Principal | undefined {
  const isGroup = text.startsWith('@');
  const name = isGroup ? text.slice(1) : text;
  if (!NAME.test(name)) {
    problems.error(line, `'${text}' is not a valid ${isGroup ? 'group' : 'user'} name`);
    return undefined;
  }
  return { kind: isGroup ? 'group' : 'user', name };
}
