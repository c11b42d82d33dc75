import { isValidDaemonName } from '../config/daemon.ts';

/** The outcome of turning what a user typed into one daemon id. */
export type Resolution =
  | { readonly ok: true; readonly id: string }
  | { readonly ok: false; readonly error: string };

const MAX_ID = 300;

/**
 * Resolves `user/name`, or a bare `name` when exactly one visible daemon has it.
 * Only ids the caller may see are candidates, so an answer never reveals that another
 * user has a daemon of that name. Hostile input (control characters, huge strings) is
 * described, never echoed back.
 */
export function resolveId(
  query: string,
  visible: Iterable<string>,
  isManageable: (user: string) => boolean,
): Resolution {
  if (query.length === 0 || query.length > MAX_ID)
    return { ok: false, error: 'daemon id must be 1 to 300 characters' };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(query))
    return { ok: false, error: 'daemon id contains control characters' };
  const slash = query.indexOf('/');
  if (slash !== -1) {
    const user = query.slice(0, slash);
    if (!isManageable(user))
      return { ok: false, error: `not allowed: you may not manage the daemons of '${user}'` };
    for (const id of visible) if (id === query) return { ok: true, id };
    return { ok: false, error: unknownDaemon(query) };
  }
  const matches = [...visible].filter((id) => id.slice(id.indexOf('/') + 1) === query);
  if (matches.length === 1 && matches[0] !== undefined) return { ok: true, id: matches[0] };
  if (matches.length === 0) return { ok: false, error: unknownDaemon(query) };
  return { ok: false, error: `'${query}' is ambiguous: ${matches.sort().join(', ')}` };
}

function unknownDaemon(query: string): string {
  return `unknown daemon '${query}'`;
}

/** The config file `dmctl edit` is about: a known daemon's, or a new one's. */
export type EditTarget =
  | {
      readonly ok: true;
      readonly id: string;
      readonly owner: string;
      readonly name: string;
      /** A daemon the manager knows (loaded, or listed as broken). */
      readonly known: boolean;
    }
  | { readonly ok: false; readonly error: string };

/**
 * Resolves the id given to `dmctl edit`: a known daemon as `resolveId` does, else a new
 * daemon `USER/NAME` (of a user the caller may manage) or `NAME` (the caller's own).
 * Only an id that names no known daemon can name a new one: an ambiguous or refused id
 * stays refused. Whether the caller may edit that user's configs is the policy's call.
 */
export function resolveEditTarget(
  query: string,
  caller: string,
  known: Iterable<string>,
  isManageable: (user: string) => boolean,
): EditTarget {
  const resolved = resolveId(query, known, isManageable);
  const slash = (resolved.ok ? resolved.id : query).indexOf('/');
  if (resolved.ok)
    return {
      ok: true,
      id: resolved.id,
      owner: resolved.id.slice(0, slash),
      name: resolved.id.slice(slash + 1),
      known: true,
    };
  if (resolved.error !== unknownDaemon(query)) return resolved;
  const owner = slash === -1 ? caller : query.slice(0, slash);
  const name = slash === -1 ? query : query.slice(slash + 1);
  if (!isValidDaemonName(name))
    return {
      ok: false,
      error: `${resolved.error}; and '${name}' cannot name a new one: a daemon name begins with a letter, a digit or _, then letters, digits and . _ @ + - (at most 128)`,
    };
  // `dmctl edit web.conf` means the daemon web, not one named web.conf (in web.conf.conf).
  if (name.endsWith('.conf'))
    return {
      ok: false,
      error: `${resolved.error}; to make a new daemon, give its name without .conf: ${name.slice(0, -'.conf'.length)}`,
    };
  return { ok: true, id: `${owner}/${name}`, owner, name, known: false };
}
