/** The command line of `daemon-manager`. */
export interface ManagerArgs {
  readonly config: string | undefined;
  readonly personal: boolean;
  readonly foreground: boolean;
  readonly verbose: boolean;
  readonly pidfile: string | undefined;
  readonly help: boolean;
  /** Internal: started by a running manager to take over from it (an upgrade, handover.ts). */
  readonly takeover: boolean;
}

export const USAGE = `usage: daemon-manager [--config FILE] [--personal] [--foreground|-f] [--verbose|-v] [--pidfile FILE]

  --config FILE   master config (default: $DAEMON_MANAGER_CONFIG, else
                  /etc/daemon-manager/daemon-manager.conf, else /etc/daemon-manager.conf)
  --personal      run only your own daemons, with no master config and no root
  --foreground    stay in the foreground and log to stderr
  --verbose       log more
  --pidfile FILE  write the manager's pid to FILE
`;

/** Parses the manager's arguments; an error names the bad argument. */
export function parseManagerArgs(argv: readonly string[]): ManagerArgs | { error: string } {
  let config: string | undefined;
  let pidfile: string | undefined;
  let personal = false;
  let foreground = false;
  let verbose = false;
  let help = false;
  let takeover = false;
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
      case '--takeover':
        takeover = true;
        break;
      default:
        return { error: `unknown argument '${arg}'` };
    }
  }
  return { config, personal, foreground, verbose, pidfile, help, takeover };
}
