import { userInfo } from 'node:os';
import type { LimitRule } from '../config/limits.ts';
import { masterConfigPath, readMasterConfig, untrustedRootPaths } from '../config/locate.ts';
import { formatProblem, type Problem } from '../config/problems.ts';
import { DEFAULT_SETTINGS, type Settings } from '../config/settings.ts';
import { mayRunDaemons, ROOT } from '../policy/authorize.ts';
import { type Policy, personalPolicy, resolvePolicy } from '../policy/policy.ts';
import type { DelayBounds } from '../policy/restart-delay.ts';
import { fitLines } from '../protocol/printable.ts';
import { type AccountDb, loadAccounts, membersOf } from '../users/accounts.ts';
import type { ManagerArgs } from './args.ts';
import { judgeConfig } from './judge.ts';
import { listenRightsOf } from './listen-rights.ts';
import { makeOwner, type Owner } from './owner.ts';
import { scanDaemonDir } from './scan.ts';
import { socketsLockHolder } from './sockets-lock.ts';

/** What a check looked at, and what it found. */
interface Findings {
  readonly problems: Problem[];
  /** The master config checked (system mode). */
  master: string | undefined;
  daemons: number;
  users: number;
}

/**
 * `daemon-manager --check`, like `nginx -t`: reads the master config and every allowed
 * user's daemon configs (each as its user, with the manager's own rules and parser),
 * prints every problem and exits 1 if any is an error. It needs no running manager and
 * creates or changes nothing: no directory, socket, state or log.
 */
export async function checkConfiguration(args: ManagerArgs): Promise<number> {
  const findings: Findings = { problems: [], master: undefined, daemons: 0, users: 0 };
  const setup = args.personal ? personalSetup() : systemSetup(args, findings);
  if ('error' in setup) {
    process.stderr.write(`daemon-manager: ${setup.error}\n`);
    return 1;
  }
  for (const owner of setup.owners) {
    findings.users++;
    const listing = await scanDaemonDir(owner);
    findings.problems.push(...listing.problems);
    for (const loaded of listing.configs) {
      findings.daemons++;
      findings.problems.push(
        ...judgeConfig(
          loaded,
          owner.account.name,
          setup.policy,
          (user) => setup.db.users.has(user),
          listenRightsOf(owner.account.name, setup.db, setup.rules),
          setup.delayBounds,
        ),
      );
    }
  }
  return report(findings);
}

type Setup =
  | {
      owners: Owner[];
      policy: Policy;
      db: AccountDb;
      rules: readonly LimitRule[];
      delayBounds: DelayBounds;
    }
  | { error: string };

/** The bounds of `restart_delay=` that these settings give. */
function delayBoundsOf(settings: Settings): DelayBounds {
  return { minMs: settings.restartDelayMinMs, maxMs: settings.restartDelayMaxMs };
}

function personalSetup(): Setup {
  const me = userInfo();
  const db = loadAccounts();
  const account = db.users.get(me.username) ?? {
    name: me.username,
    uid: me.uid,
    gid: me.gid,
    home: me.homedir,
  };
  // As in personal mode: the user's own paths, whoever the user is (root included).
  const settings: Settings = {
    ...DEFAULT_SETTINGS,
    daemonPathDaemonRoot: DEFAULT_SETTINGS.daemonPathDaemon,
    daemonPathLogRoot: DEFAULT_SETTINGS.daemonPathLog,
  };
  return {
    owners: [makeOwner(account, db, settings)],
    policy: personalPolicy(me.username),
    db,
    rules: [],
    delayBounds: delayBoundsOf(settings),
  };
}

function systemSetup(args: ManagerArgs, findings: Findings): Setup {
  if (process.geteuid?.() !== 0)
    return {
      error:
        "--check reads every user's daemon configs as that user and needs root; use --check --personal for your own",
    };
  const path = masterConfigPath(args.config, process.env);
  if (path === undefined)
    return {
      error:
        'no master config (/etc/daemon-manager/daemon-manager.conf or /etc/daemon-manager.conf); use --config FILE or --personal',
    };
  findings.master = path;
  const read = readMasterConfig(path, { keepErrors: true });
  findings.problems.push(...read.problems);
  if (!('config' in read))
    return {
      owners: [],
      policy: personalPolicy(ROOT),
      db: loadAccounts(),
      rules: [],
      delayBounds: delayBoundsOf(DEFAULT_SETTINGS),
    };
  for (const doubt of untrustedRootPaths(read.config.settings))
    findings.problems.push({ file: path, severity: 'error', message: doubt });
  // Another config's manager (or the keeper it left) holds the socket-dir: this one's
  // manager would be refused at its start.
  const { socketDir, stateDir } = read.config.settings;
  const held = socketsLockHolder(socketDir, stateDir, true);
  if (held !== undefined && held !== 'own')
    findings.problems.push({
      file: path,
      severity: 'error',
      message: `a manager of this config would be refused: ${held}`,
    });
  const db = loadAccounts();
  const resolved = resolvePolicy(read.config, {
    hasUser: (name) => db.users.has(name),
    membersOf: (group) => membersOf(db, group),
  });
  findings.problems.push(...resolved.problems);
  const owners: Owner[] = [];
  for (const name of [ROOT, ...resolved.policy.runAs.keys()]) {
    const account = db.users.get(name);
    if (account !== undefined && mayRunDaemons(resolved.policy, name))
      owners.push(makeOwner(account, db, read.config.settings));
  }
  return {
    owners,
    policy: resolved.policy,
    db,
    rules: read.config.limits,
    delayBounds: delayBoundsOf(read.config.settings),
  };
}

function report(findings: Findings): number {
  print(findings.problems.map((problem) => `${formatProblem(problem)}\n`).join(''));
  const errors = findings.problems.filter((problem) => problem.severity === 'error').length;
  const warnings = findings.problems.length - errors;
  const what = [
    findings.master,
    `${findings.daemons} daemon config${findings.daemons === 1 ? '' : 's'} of ${findings.users} user${findings.users === 1 ? '' : 's'}`,
  ]
    .filter((part) => part !== undefined)
    .join(' and ');
  const counts = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  print(
    errors === 0
      ? `daemon-manager: configuration OK (${what}; ${counts})\n`
      : `daemon-manager: configuration has errors (${what}; ${counts})\n`,
  );
  return errors === 0 ? 0 : 1;
}

/**
 * Lines for stdout; on a terminal, each cut to its width (see fitLines) as `dmctl why`
 * does: a problem quotes what a user wrote, which padded to the width would wrap into a
 * line that reads as a problem of another user's file. Into a pipe, whole, for scripts.
 */
function print(text: string): void {
  process.stdout.write(process.stdout.isTTY ? fitLines(text, process.stdout.columns || 80) : text);
}
