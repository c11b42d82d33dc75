// Only what `dmctl status` needs is imported here: every other command imports its own
// modules when it runs (the build puts each in a file of its own), so that status does
// not load and compile them, nor the Node built-ins they use (child_process, crypto,
// readline): on a busy host that is a large part of what dmctl adds to Node's start-up.
import { userInfo } from 'node:os';
import {
  MAX_TABLE_WIDTH,
  type Request,
  type Response,
  type TableRequest,
} from '../protocol/messages.ts';
import { formatStatusTable } from '../protocol/status-table.ts';
import { VERSION } from '../version.ts';
import { type CliArgs, parseCliArgs, USAGE, wantsJson } from './args.ts';
import { ConnectError, isCutOff, send } from './client.ts';
import { locateManager, type Target } from './locate.ts';
import { Output } from './output.ts';
import { printAnswer, printProblems, refusedAny } from './report.ts';

/** A completion that waits longer than this for the manager offers no ids. */
const COMPLETION_TIMEOUT_MS = 1_000;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === '__complete') return complete(argv.slice(1));
  const args = parseCliArgs(argv);
  if ('error' in args) {
    const output = new Output(wantsJson(process.argv));
    // The mistake, then where the help is: the whole help would bury the one line that matters.
    return output.json
      ? output.fail(args.error, 2)
      : output.fail(`${args.error}\n(dmctl --help lists the commands and options)`, 2);
  }
  if (args.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.command === 'version') {
    process.stdout.write(`dmctl ${VERSION}\n`);
    return 0;
  }
  if (args.command === 'completion') {
    const { COMPLETION_SCRIPTS } = await import('./completion/scripts.ts');
    process.stdout.write(COMPLETION_SCRIPTS[args.id as keyof typeof COMPLETION_SCRIPTS]);
    return 0;
  }
  const me = userInfo();
  const target = locateManager(me.username, me.homedir, args.config, args.personal);
  if (target.refusal !== undefined) return new Output(args.json).fail(target.refusal);
  const call = async (
    request: Request,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<Response> => {
    try {
      return await send(target.socket, request, timeoutMs, signal);
    } catch (error) {
      if (error instanceof ConnectError)
        return {
          ok: false,
          error: await explainNoManager(me.username, target, error),
          unreachable: true,
          ...(error.code === 'ECONNREFUSED' ? { refused: true as const } : {}),
        };
      return { ok: false, error: (error as Error).message };
    }
  };
  return run(args, call, new Output(args.json));
}

/**
 * `dmctl __complete WORDS... CURRENT`, for the completion scripts: the candidates, one
 * per line. Silent and quick whatever happens: no manager means no ids, not an error.
 */
async function complete(words: readonly string[]): Promise<number> {
  const me = userInfo();
  const ids = async (config: string | undefined, personal: boolean): Promise<string[]> => {
    try {
      const target = locateManager(me.username, me.homedir, config, personal);
      const response = await send(target.socket, { command: 'list' }, COMPLETION_TIMEOUT_MS);
      return response.ok ? (response.daemons ?? []).map((daemon) => daemon.id) : [];
    } catch {
      return [];
    }
  };
  const { completeWords } = await import('./completion/candidates.ts');
  const candidates = await completeWords(words, { ids, user: me.username });
  process.stdout.write(candidates.map((word) => `${word}\n`).join(''));
  return 0;
}

async function run(
  args: CliArgs,
  call: (request: Request) => Promise<Response>,
  output: Output,
): Promise<number> {
  const id = args.id === undefined ? {} : { id: args.id };
  switch (args.command) {
    case 'status':
    case 'list': {
      // The manager draws the table (as it does for the native client, bin/dmctl's quick
      // path); a manager from before that answers with the rows, drawn here.
      const table = args.command === 'status' && !args.json ? tableStyle() : undefined;
      const response = await call({ command: args.command, ...id, ...(table && { table }) });
      if (!response.ok) return output.fail(response.error);
      if (table !== undefined && response.text !== undefined) {
        output.table(response.text);
        if (response.notes !== undefined) output.note(response.notes);
        return 0;
      }
      const daemons = response.daemons ?? [];
      if (args.json) output.value(daemons, 2);
      else if (args.command === 'list')
        output.out(daemons.map((daemon) => `${daemon.id}\n`).join(''));
      else output.table(formatStatusTable(daemons, table));
      printProblems(response, output);
      return 0;
    }
    case 'problems': {
      const response = await call({
        command: 'problems',
        ...(args.id === undefined ? {} : { user: args.id }),
      });
      if (!response.ok) return output.fail(response.error);
      const problems = response.problems ?? [];
      if (args.json) output.value(problems, 2);
      else output.outFitted(problems.map((line) => `${line}\n`).join(''));
      return 0;
    }
    case 'rescan': {
      const response = await call({ command: 'rescan' });
      if (!response.ok) return report(response, output, 'rescan');
      printAnswer(response, output);
      return refusedAny(response.rescan) ? 1 : 0;
    }
    case 'edit': {
      const { editDaemonConfig } = await import('./edit.ts');
      return editDaemonConfig(call, args.id ?? '', output);
    }
    case 'log':
    case 'tail': {
      const response = await call({ command: 'info', ...id });
      if (!response.ok || response.info === undefined)
        return output.fail(response.ok ? 'no answer' : response.error);
      const { info } = response;
      if (info.logFile === undefined)
        return output.fail(`${info.id} has output=discard: there is no log (set output=log)`);
      if (info.owner !== userInfo().username) {
        // Someone else's log (we manage its owner, or we are root): the manager reads it
        // as its owner, so a link, hard link or FIFO planted there gives the reader
        // nothing its owner could not read.
        const { chunkReader, followRemoteLog, pageRemoteLog } = await import('./remote-log.ts');
        const read = chunkReader(call, info.id);
        return args.command === 'log' ? pageRemoteLog(read) : followRemoteLog(read);
      }
      const { followLog, openLog: pageLog } = await import('./viewers.ts');
      return args.command === 'log' ? pageLog(info.logFile) : followLog(info.logFile);
    }
    case 'why': {
      const response = await call({ command: 'why', ...id });
      if (!response.ok || response.why === undefined)
        return output.fail(response.ok ? 'no answer' : response.error);
      if (args.json) output.value(response.why, 2);
      else output.outFitted((await import('./why.ts')).formatWhy(response.why));
      return 0;
    }
    case 'kill':
      return report(
        await call({ command: 'kill', ...id, signal: args.signal ?? '' }),
        output,
        'kill',
      );
    case 'start':
    case 'stop':
    case 'restart':
      if (args.waitMs !== undefined) {
        const { runAndWait } = await import('./wait.ts');
        return runAndWait(call, args.command, args.id ?? '', args.waitMs, output);
      }
      return report(await call({ command: args.command, ...id }), output, args.command);
    case 'help':
    case 'version':
    case 'completion':
      return 0;
    default:
      return report(await call({ command: args.command, ...id }), output);
  }
}

/** On a terminal: its width, and colours unless NO_COLOR (https://no-color.org) or TERM=dumb. */
function tableStyle(): TableRequest {
  if (!process.stdout.isTTY) return { color: false };
  const noColor = (process.env.NO_COLOR ?? '') !== '' || process.env.TERM === 'dumb';
  // A wider terminal gets the widest table the manager draws.
  return { width: Math.min(process.stdout.columns || 80, MAX_TABLE_WIDTH), color: !noColor };
}

/** The commands whose effect a manager killed before it answered may still carry out. */
const CHANGING = new Set(['start', 'stop', 'restart', 'kill', 'rescan']);

function report(response: Response, output: Output, command?: string): number {
  // Cut off unanswered: said to be of unknown fate, not taken for "not done" (an outside
  // review, 78a, F2: the next manager carried out the stop, about 50 of 50).
  if (!response.ok && isCutOff(response.error) && command !== undefined && CHANGING.has(command))
    return output.fail(
      `${response.error}: whether the ${command} was carried out is not known (see dmctl status and why)`,
    );
  if (!response.ok) return output.fail(response.error);
  printAnswer(response, output);
  return 0;
}

/** Says why no manager answered: not authorized, not running (and where it looked). */
async function explainNoManager(
  user: string,
  target: Target,
  error: ConnectError,
): Promise<string> {
  if (target.master !== undefined && target.masterPath !== undefined) {
    const { loadAccounts, membersOf } = await import('../users/accounts.ts');
    const { resolvePolicy } = await import('../policy/policy.ts');
    const { mayUseManager } = await import('../policy/authorize.ts');
    const db = loadAccounts();
    const { policy } = resolvePolicy(target.master, {
      hasUser: (name) => db.users.has(name),
      membersOf: (group) => membersOf(db, group),
    });
    if (user !== 'root' && !mayUseManager(policy, user))
      return `not authorized: user '${user}' may not run or manage daemons (not in [can_run_as] or [manages] of ${target.masterPath})`;
  }
  if (error.code === 'EACCES') return `not authorized to use ${target.socket}`;
  // A user's socket goes with their rights: a `[manages]` right taken away as a tail ran
  // was told "not running" alone (outside reviews, 64b, F6: 2 of 3; 66b, F3: said first).
  const which =
    user === 'root' || error.code !== 'ENOENT'
      ? 'daemon-manager is not running'
      : `daemon-manager is not running, or root no longer lets ${user} run or manage daemons (a user's socket is there only while root lets them)`;
  return `${which}: nothing answers on ${target.socket} (${target.source}; ${error.code}). If it runs with another master config, name it: dmctl --config FILE, or DAEMON_MANAGER_CONFIG=FILE; for your own daemons alone: daemon-manager --personal`;
}

// A reader that went away (`dmctl status | head -1`) ends dmctl quietly with status 1, as
// it does the quick status client, not with a stack trace of the EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(1);
  });

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    new Output(wantsJson(process.argv)).fail((error as Error).message);
    process.exitCode = 1;
  },
);
