import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  masterConfigPath,
  personalSocketPath,
  readMasterConfig,
  systemSocketPath,
  trustedSocketDir,
} from '../config/locate.ts';
import type { MasterConfig } from '../config/master.ts';
import { formatProblem } from '../config/problems.ts';

/** Where dmctl will talk to a manager, and what it knows if none answers. */
export interface Target {
  readonly socket: string;
  /** The master config found (world-readable), to explain a refusal. */
  readonly master: MasterConfig | undefined;
  readonly masterPath: string | undefined;
  /** Where the socket's path came from, for a person told that nothing answers there. */
  readonly source: string;
  /** A master config asked for by name (--config, DAEMON_MANAGER_CONFIG) that cannot be used: why. */
  readonly refusal?: string;
}

/**
 * The caller's socket under the system manager when the master config names one that
 * exists, else the personal manager's socket in the caller's home.
 */
export function locateManager(
  user: string,
  home: string,
  explicitConfig: string | undefined,
  personal: boolean,
): Target {
  const personalSocket = personalSocketPath(home);
  if (personal)
    return {
      socket: personalSocket,
      master: undefined,
      masterPath: undefined,
      source: 'your personal manager, as --personal asks',
    };
  const masterPath = masterConfigPath(explicitConfig, process.env);
  const named =
    explicitConfig !== undefined
      ? `--config ${masterPath}`
      : process.env.DAEMON_MANAGER_CONFIG
        ? `DAEMON_MANAGER_CONFIG=${masterPath}`
        : `${masterPath}, the default master config`;
  // A master config broken since the manager started is still where its sockets are: the
  // manager keeps its last good config (SIGHUP refuses a broken one), so dmctl must too.
  const read =
    masterPath === undefined ? undefined : readMasterConfig(masterPath, { keepErrors: true });
  const master = read === undefined ? undefined : configOf(read);
  // A config named on purpose that is there but cannot be used is not silently replaced
  // by the personal manager (one that does not exist means no system manager: personal).
  const asked = explicitConfig !== undefined || Boolean(process.env.DAEMON_MANAGER_CONFIG);
  if (master === undefined && asked && read !== undefined && !missing(masterPath ?? ''))
    return {
      socket: personalSocket,
      master,
      masterPath,
      source: named,
      refusal: `${named} cannot be used: ${read.problems.map((problem) => problem.message).join('; ')}`,
    };
  // Kept with its errors (see above), but not a file with errors and no rule at all: that
  // is no master config (/etc/passwd was read as one that did not list the caller, and
  // dmctl said "not authorized": an outside review, 74a, F3).
  const firstError = read?.problems.find((problem) => problem.severity === 'error');
  if (
    master !== undefined &&
    asked &&
    firstError !== undefined &&
    master.canRunAs.length === 0 &&
    master.manages.length === 0
  )
    return {
      socket: personalSocket,
      master,
      masterPath,
      source: named,
      refusal: `${named} cannot be used: it is no master config of daemon-manager (no rule in [can_run_as] or [manages], and errors, the first: ${formatProblem(firstError)})`,
    };
  if (master === undefined)
    return {
      socket: personalSocket,
      master,
      masterPath,
      source:
        masterPath === undefined
          ? 'your personal manager: no master config was found'
          : `your personal manager: ${named} cannot be read`,
    };
  const systemSocket = systemSocketPath(master.settings, user);
  if (!existsSync(systemSocket) && existsSync(personalSocket))
    return { socket: personalSocket, master, masterPath, source: 'your personal manager' };
  const source = `the socket-dir of ${named}`;
  const trusted = trustedSocketDir(master.settings.socketDir);
  if ('doubt' in trusted)
    return {
      socket: systemSocket,
      master,
      masterPath,
      source,
      refusal: `not asking in ${master.settings.socketDir}, ${source}: ${trusted.doubt}, so whoever can write there could answer in the manager's place (the manager makes it root's, mode 0755)`,
    };
  return { socket: join(trusted.real, `${user}.sock`), master, masterPath, source };
}

/** Is there nothing at the path (not: something the caller may not see)? */
function missing(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function configOf(read: ReturnType<typeof readMasterConfig>): MasterConfig | undefined {
  return 'config' in read ? read.config : undefined;
}
