/** The command line of `daemon-manager`. */
export interface ManagerArgs {
  readonly config: string | undefined;
  readonly personal: boolean;
  readonly foreground: boolean;
  readonly verbose: boolean;
  readonly pidfile: string | undefined;
  /** Where the manager's own log goes (rotated) instead of stderr. */
  readonly logFile: string | undefined;
  /** Check the configuration and exit: start nothing, create nothing. */
  readonly check: boolean;
  readonly help: boolean;
}

export const USAGE = `usage: daemon-manager [--config FILE] [--personal] [--foreground|-f] [--verbose|-v] [--pidfile FILE]
       daemon-manager --check [--config FILE | --personal]

  --config FILE   master config (default: $DAEMON_MANAGER_CONFIG, else
                  /etc/daemon-manager/daemon-manager.conf, else /etc/daemon-manager.conf)
  --personal      run only your own daemons, with no master config and no root
  --foreground    stay in the foreground and log to stderr
  --log-file FILE log to FILE instead, rotated at log-max-size (in the background: the
                  state-dir's daemon-manager.log)
  --verbose       log more
  --pidfile FILE  write the manager's pid to FILE
  --check         check the master config and every daemon config, print every
                  problem, exit 1 on an error; start and create nothing
`;

/** Parses the manager's arguments; an error names the bad argument. */
export function parseManagerArgs(argv: readonly string[]): ManagerArgs | { error: string } {
  let config: string | undefined;
  let pidfile: string | undefined;
  let logFile: string | undefined;
  let check = false;
  let personal = false;
  let foreground = false;
  let verbose = false;
  let help = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++index];
    switch (flag) {
      case '--config':
      case '-c':
        config = value();
        if (config === undefined) return { error: `${flag} needs a file` };
        break;
      case '--pidfile':
        pidfile = value();
        if (pidfile === undefined) return { error: '--pidfile needs a file' };
        break;
      case '--log-file':
        logFile = value();
        if (logFile === undefined) return { error: '--log-file needs a file' };
        break;
      case '--check':
        check = true;
        break;
      case '--personal':
        personal = true;
        break;
      case '--foreground':
      case '-f':
        foreground = true;
        break;
      case '--verbose':
      case '-v':
        verbose = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        return {
          error: arg.startsWith('-')
            ? `unknown option '${flag}'`
            : `unexpected argument '${arg}' (daemon-manager takes options only)`,
        };
    }
  }
  return { config, personal, foreground, verbose, pidfile, logFile, check, help };
}
