import { usageText } from '../docs/usage.ts';
import { MANAGER_OPTIONS } from '../reference/manager.ts';

/** The command line of `daemon-manager`. */
export interface ManagerArgs {
  readonly config: string | undefined;
  readonly personal: boolean;
  readonly foreground: boolean;
  /** Log debug detail. */
  readonly verbose: boolean;
  /** `-d`: the original's debug mode, foreground with the log on stderr. */
  readonly debug: boolean;
  /** `--syslog[=SOCKET]`: log to syslog, at /dev/log unless told. */
  readonly syslog: string | undefined;
  readonly pidfile: string | undefined;
  /** Check the configuration and exit: start nothing, create nothing. */
  readonly check: boolean;
  readonly help: boolean;
  readonly version: boolean;
  /** Internal: started by a running manager to take over from it (an upgrade, handover.ts). */
  readonly takeover: boolean;
}

export const USAGE = usageText('daemon-manager [OPTION...]', [MANAGER_OPTIONS]);

/** Parses the manager's arguments; an error names the bad argument. */
/** The long options that take no value. */
const SWITCHES = new Set([
  '--personal',
  '--foreground',
  '--verbose',
  '--debug',
  '--help',
  '--version',
  '--takeover',
  '--check',
]);

/**
 * Short options run together, as getopt takes them: `-fv` is `-f -v`, and `-fc FILE` or
 * `-cFILE` give -c its file (the rest of the word, else the next one).
 */
function separateShortOptions(argv: readonly string[]): string[] {
  const separate: string[] = [];
  for (const arg of argv) {
    if (!/^-[A-Za-z]./.test(arg)) {
      separate.push(arg);
      continue;
    }
    for (let index = 1; index < arg.length; index++) {
      separate.push(`-${arg[index]}`);
      if (arg[index] !== 'c') continue;
      if (index + 1 < arg.length) separate.push(arg.slice(index + 1));
      break;
    }
  }
  return separate;
}

export function parseManagerArgs(given: readonly string[]): ManagerArgs | { error: string } {
  const argv = separateShortOptions(given);
  let config: string | undefined;
  let pidfile: string | undefined;
  let personal = false;
  let foreground = false;
  let verbose = false;
  let debug = false;
  let syslog: string | undefined;
  let help = false;
  let version = false;
  let takeover = false;
  let check = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++index];
    // `--foreground=no` must not quietly mean --foreground: only these take a value.
    if (inline !== undefined && SWITCHES.has(flag))
      return { error: `${flag} takes no value (got '${flag}=${inline}')` };
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
      case '--debug':
      case '-d':
        debug = true;
        foreground = true;
        verbose = true;
        break;
      case '--syslog':
        syslog = inline ?? '/dev/log';
        if (!syslog.startsWith('/'))
          return { error: `--syslog needs an absolute socket path, not '${syslog}'` };
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--version':
      case '-V':
        version = true;
        break;
      case '--takeover':
        takeover = true;
        break;
      case '--check':
        check = true;
        break;
      case '--': {
        // The end of the options; the manager takes no other arguments.
        const extra = argv[index + 1];
        if (extra !== undefined)
          return { error: `unexpected argument '${extra}' (daemon-manager takes options only)` };
        break;
      }
      default:
        return {
          error: arg.startsWith('-')
            ? `unknown option '${flag}'`
            : `unexpected argument '${arg}' (daemon-manager takes options only)`,
        };
    }
  }
  return {
    config,
    personal,
    foreground,
    verbose,
    debug,
    syslog,
    pidfile,
    check,
    help,
    version,
    takeover,
  };
}
