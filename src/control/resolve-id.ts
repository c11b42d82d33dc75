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
    return { ok: false, error: `unknown daemon '${query}'` };
  }
  const matches = [...visible].filter((id) => id.slice(id.indexOf('/') + 1) === query);
  if (matches.length === 1 && matches[0] !== undefined) return { ok: true, id: matches[0] };
  if (matches.length === 0) return { ok: false, error: `unknown daemon '${query}'` };
  return { ok: false, error: `'${query}' is ambiguous: ${matches.sort().join(', ')}` };
}
