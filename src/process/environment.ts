/** Who a daemon runs as, as far as its environment is concerned. */
export interface Identity {
  readonly name: string;
  readonly home: string;
}

/**
 * Builds a daemon's environment from scratch: the run-as user's HOME, LOGNAME and USER,
 * a plain PATH, then the config's `export` lines on top. Nothing of the manager's own
 * environment is passed on.
 */
export function buildEnvironment(
  user: Identity,
  exports: readonly (readonly [string, string])[],
): Record<string, string> {
  const env: Record<string, string> = {
    HOME: user.home,
    LOGNAME: user.name,
    USER: user.name,
    // The original Daemon Manager's PATH: daemons written for it find the same programs.
    PATH: '/usr/bin:/bin',
  };
  for (const [name, value] of exports) env[name] = value;
  return env;
}
