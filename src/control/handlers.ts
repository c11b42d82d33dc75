import { mayManage } from '../policy/authorize.ts';
import type { Policy } from '../policy/policy.ts';
import { parseSignal, unknownSignal } from '../process/signals.ts';
import type {
  ConfigCopy,
  DaemonInfo,
  DaemonStatus,
  LogChunk,
  Request,
  RescanReport,
  Response,
  TableRequest,
  WhyEvent,
} from '../protocol/messages.ts';
import { printableLines } from '../protocol/printable.ts';
import { deadline } from '../protocol/silence.ts';
import { formatStatusTable, problemLines } from '../protocol/status-table.ts';
import { commandText } from '../state/history.ts';
import { inTurn } from '../supervisor/in-turn.ts';
import { type DaemonRecord, runsOldConfig } from '../supervisor/state.ts';
import {
  describeSlowExec,
  EXEC_SLOW_MS,
  type Outcome,
  type Supervisor,
} from '../supervisor/supervisor.ts';
import { handleConfigRequest } from './config-requests.ts';
import { resolveId } from './resolve-id.ts';
import { type BrokenConfig, brokenStatus, statusOf } from './status.ts';

/** The run's exec, or `slow` once EXEC_SLOW_MS have passed without it. */
async function execOrSlow<T>(exec: Promise<T>): Promise<T | { readonly slow: true }> {
  let timer: { cancel(): void } | undefined;
  const slow = new Promise<{ readonly slow: true }>((resolve) => {
    timer = deadline(EXEC_SLOW_MS, () => resolve({ slow: true }));
  });
  try {
    return await Promise.race([exec, slow]);
  } finally {
    timer?.cancel();
  }
}

/** How long a stop's answer waits for the keeper to carry out its SIGTERM (then saved). */
const TERM_ANSWER_MS = 2_000;

/** A request that waits on a keeper that has not answered for a while: why it is not done. */
export interface KeeperSilent {
  readonly keeperSilent: string;
}

/** What the request handlers need from the manager. */
export interface ControlContext {
  readonly supervisor: Supervisor;
  policy(): Policy;
  /** Re-reads the config files of these users; says what was added, changed, removed, refused. */
  rescan(users: readonly string[], askedBy?: string): Promise<RescanReport>;
  /** Why this user may not rescan now (their files cost too much reading lately), if so. */
  rescanRefusal(user: string): string | undefined;
  /** Someone stopped a daemon whose file is refused and was never loaded: it stays stopped once accepted. */
  stopWhileBroken(id: string, caller: string): void;
  /** Takes one of the starts this user may ask for; why not, if they asked too many lately. */
  takeStart(user: string): string | undefined;
  /**
   * Re-reads one daemon's config if it changed; an error if it is now invalid or gone.
   * `refused`: its file is refused now (a port, a user, a group root does not give), and
   * its run goes on with the config it was started with.
   */
  refresh(record: DaemonRecord): Promise<Refreshed>;
  /** Why a start of the daemon would be refused now (its log), as `refresh` just found it. */
  startRefusal(record: DaemonRecord): string | undefined;
  /** Forgets a daemon whose config file is gone, now if it is stopped, else once it stops. */
  forgetIfGone(record: DaemonRecord): Promise<void>;
  /** Formatted config problems of these users' files (a bounded number per user). */
  problemsOf(users: readonly string[]): string[];
  /** How many config problems a user's files have. */
  problemCount(user: string): number;
  /**
   * Why a user's account is not known yet to be the one the manager knew by its uid (its
   * daemon directory cannot be read: see the account rules in the README); undefined if it is.
   */
  notKnownYet(user: string): string | undefined;
  /**
   * Judges a user's account not known yet again now (its next timed look is then later);
   * known, its daemons are loaded by the rescan of it that follows. Returns what it was
   * judged to be, if it was asked of one not known yet.
   */
  judgeNow(user: string): Promise<string | undefined>;
  /** Daemons whose config file is refused now, loaded before or not. */
  brokenConfigs(): readonly BrokenConfig[];
  infoOf(record: DaemonRecord): DaemonInfo;
  /** A piece of the daemon's log, read as its owner. */
  readLog(
    record: DaemonRecord,
    offset: number,
    file?: string,
  ): Promise<LogChunk | { error: string }>;
  /** Users with daemons (or config problems) that the manager knows of. */
  owners(): readonly string[];
  /** May this user have daemons (so that a config of theirs is loaded)? */
  runsDaemons(user: string): boolean;
  /** A daemon's config file as its owner sees it now (no text: there is none yet). */
  readConfig(owner: string, name: string): Promise<ConfigCopy | { error: string }>;
  /** Checks the caller's edited copy and writes it as the owner's config; then rescans. */
  saveConfig(
    caller: string,
    owner: string,
    name: string,
    source: string,
    expect: string,
  ): Promise<Response>;
  audit(caller: string, request: Request, outcome: string): void;
  /** Resolves once the run's child has become the daemon, or with why it could not. */
  waitExec(run: number): Promise<{ ok: true; pid: number } | { ok: false; error: string }>;
  /**
   * `answer`, or, once the keeper has been silent KEEPER_SILENT_MS, what is known: which
   * keeper, what to look at, and `then` (what happens once it answers). Once `answered()`
   * (the keeper has answered the request: only the program is awaited now, a slow exec
   * on a loaded machine or a slow file system), `answer` alone.
   */
  untilKeeperSilent<T>(
    answer: Promise<T>,
    then: string,
    answered?: () => boolean,
  ): Promise<T | KeeperSilent>;
  /** Resolves once every change so far is saved: an answer is only given then. */
  durable(): Promise<string | undefined>;
  /** Is the manager stopping every daemon to exit (SIGTERM)? Then nothing new starts. */
  shuttingDown(): boolean;
  /** A daemon's recent events, oldest first (`dmctl why`). */
  historyOf(id: string): readonly WhyEvent[];
  /** The account a daemon's run runs as, if known (see statusOf). */
  runAsOf(record: DaemonRecord): string | undefined;
  /** Puts what a user asked of a daemon, or why it was refused, in its history. */
  note(record: DaemonRecord, kind: 'command' | 'refused', text: string): void;
}

/** What may still be asked while the manager shuts down: looking, and stopping sooner. */
const DURING_SHUTDOWN: ReadonlySet<string> = new Set([
  'status',
  'list',
  'problems',
  'info',
  'read-log',
  'why',
  'stop',
  'kill',
]);

/** Commands that change a daemon: who ran them goes into its history. */
const ACTIONS: ReadonlySet<string> = new Set(['start', 'stop', 'restart', 'kill']);

/** What a caller may see: the daemons, broken configs and users of those they manage. */
export interface Visible {
  readonly manageable: (user: string) => boolean;
  readonly records: () => DaemonRecord[];
  readonly broken: () => BrokenConfig[];
  /** Every id: loaded daemons and broken configs. */
  readonly ids: () => string[];
}

/** Answers one request from `caller`, who has been authenticated by their socket. */
export async function handleRequest(
  context: ControlContext,
  caller: string,
  request: Request,
): Promise<Response> {
  const policy = context.policy();
  const manageable = (user: string): boolean => mayManage(policy, caller, user);
  // The daemon of the account that had the caller's name before is nothing of theirs.
  const records = (): DaemonRecord[] =>
    [...context.supervisor.daemons.values()].filter(
      (record) =>
        manageable(record.owner) && !(record.formerUid !== undefined && record.owner === caller),
    );
  const broken = (): BrokenConfig[] =>
    context.brokenConfigs().filter((entry) => manageable(entry.owner));
  const visible: Visible = {
    manageable,
    records,
    broken,
    // A loaded daemon whose file broke since is in both: one id.
    ids: () => [
      ...new Set([...records().map((record) => record.id), ...broken().map((entry) => entry.id)]),
    ],
  };
  const visibleUsers = (): string[] => context.owners().filter(manageable);

  if (context.shuttingDown() && !DURING_SHUTDOWN.has(request.command)) {
    const error = 'the manager is shutting down: it stops every daemon, then exits';
    context.audit(caller, request, `refused: ${error}`);
    return { ok: false, error };
  }
  switch (request.command) {
    case 'status':
    case 'list': {
      let ids: ReadonlySet<string> | undefined;
      if (request.id !== undefined) {
        const resolved = resolveId(request.id, visible.ids(), manageable);
        if (!resolved.ok) {
          // Asking after others' daemons is how one probes for them: kept in the audit trail.
          context.audit(caller, request, `refused: ${resolved.error}`);
          return { ok: false, error: resolved.error };
        }
        ids = new Set([resolved.id]);
      }
      const now = Date.now();
      const problemOf = new Map(broken().map((entry) => [entry.id, entry.problem]));
      const daemons = [
        ...records().map((record) =>
          statusOf(record, now, problemOf.get(record.id), context.runAsOf(record)),
        ),
        ...broken()
          .filter((entry) => !context.supervisor.daemons.has(entry.id))
          .map(brokenStatus),
      ]
        .filter((row) => ids === undefined || ids.has(row.id))
        .sort((a, b) => a.id.localeCompare(b.id));
      const problems = problemsFor(context, caller, visibleUsers());
      if (request.table !== undefined) return statusText(daemons, request.table, problems);
      return { ok: true, daemons, ...problems };
    }
    case 'rescan': {
      const refusal = context.rescanRefusal(caller);
      if (refusal !== undefined) {
        context.audit(caller, request, refusal);
        return { ok: false, error: refusal };
      }
      // Not known yet: judged first, not at its next timed look up to 30 s later (an
      // outside review, 56a, F7: "nothing changed", and judged 20 s later). What the
      // judgement loaded is said as added.
      const before = context.notKnownYet(caller) === undefined ? undefined : visible.ids();
      const outcome = await context.judgeNow(caller);
      const users = visibleUsers();
      const scanned = await context.rescan(users, caller);
      const judged = before && visible.ids().filter((id) => !before.includes(id));
      const added =
        judged === undefined
          ? scanned
          : { ...scanned, added: [...new Set([...judged, ...scanned.added])] };
      const rescan = outcome === undefined ? added : { ...added, judged: outcome };
      await context.durable();
      const refused = rescan.refused.length + rescan.refusedMore;
      context.audit(caller, request, refused === 0 ? 'ok' : `ok, ${refused} refused`);
      return { ok: true, rescan, ...problemsFor(context, caller, visibleUsers()) };
    }
    case 'problems': {
      if (request.user !== undefined && !manageable(request.user)) {
        const error = `not allowed: you may not manage the daemons of '${request.user}'`;
        context.audit(caller, request, `refused: ${error}`);
        return { ok: false, error };
      }
      const users = request.user === undefined ? visibleUsers() : [request.user];
      const notKnown = users.includes(caller) ? undefined : context.notKnownYet(caller);
      const own = request.user === undefined && notKnown !== undefined ? [notKnown] : [];
      return { ok: true, problems: [...own, ...context.problemsOf(users)] };
    }
    case 'read-config':
    case 'save-config':
      return handleConfigRequest(context, caller, request, visible);
    default:
      break;
  }

  const resolved = resolveId(request.id ?? '', visible.ids(), manageable);
  if (!resolved.ok) {
    context.audit(caller, request, `refused: ${resolved.error}`);
    return { ok: false, error: resolved.error };
  }
  const record = context.supervisor.daemons.get(resolved.id);
  // Seen exactly as `status` of that daemon is: the same resolution, the same rule.
  if (request.command === 'why') {
    const problem = context.brokenConfigs().find((entry) => entry.id === resolved.id);
    const status =
      record === undefined
        ? problem && brokenStatus(problem)
        : statusOf(record, Date.now(), problem?.problem, context.runAsOf(record));
    if (status === undefined) return { ok: false, error: `unknown daemon '${resolved.id}'` };
    return { ok: true, why: { status, events: context.historyOf(resolved.id) } };
  }
  if (record === undefined) {
    const entry = context.brokenConfigs().find((candidate) => candidate.id === resolved.id);
    if (entry === undefined) return { ok: false, error: `unknown daemon '${resolved.id}'` };
    const outcome = actOnBroken(entry, request);
    if (request.command === 'stop') {
      context.stopWhileBroken(entry.id, caller);
      await context.durable();
    }
    context.audit(caller, { ...request, id: entry.id }, auditOf(outcome));
    return outcome;
  }
  // Root or a manager of that name: they may see it stop, not act on it (only a stop,
  // under way already): a start took it for the new account's daemon, its history and
  // all; its log and config are the new account's now.
  if (record.formerUid !== undefined && request.command !== 'stop') {
    const error = `${record.id} is the daemon of the account that had the name ${record.owner} before (uid ${record.formerUid}): it is stopping, and goes once its processes are gone`;
    context.audit(caller, { ...request, id: record.id }, `refused: ${error}`);
    return { ok: false, error };
  }
  if (request.command === 'read-log') {
    const chunk = await context.readLog(record, request.offset ?? 0, request.file);
    return 'error' in chunk ? { ok: false, error: chunk.error } : { ok: true, log: chunk };
  }
  if (request.command === 'start' || request.command === 'restart') {
    const refusal = context.takeStart(caller);
    if (refusal !== undefined) {
      const error = `${request.command} of ${record.id} ${refusal}`;
      context.audit(caller, { ...request, id: record.id }, error);
      return { ok: false, error };
    }
  }
  const acting = ACTIONS.has(request.command);
  const signal = request.signal === undefined ? '' : ` ${request.signal}`;
  // Not of a stop of the old account's run under way (it reaches nothing of it): noted, it
  // went with that history to the renamed account's daemon, a line of someone who may not
  // manage that account (an outside review, 79b, F7: 2 of 2).
  if (acting && record.formerUid === undefined)
    context.note(record, 'command', commandText(caller, request.command, signal));
  let outcome = acting
    ? await inTurn(record, () => act(context, record, request))
    : await act(context, record, request);
  // A start is answered once the daemon's program runs, or with why it cannot: a dir=
  // it cannot enter is an error of `start`, not a silent crash loop.
  if (outcome.ok && outcome.run !== undefined) {
    const { run } = outcome;
    // The keeper has answered once it says the run's pid: the rest is the program's exec.
    const spawned = (): boolean => {
      const { state } = record;
      return 'run' in state && state.run === run && state.pid > 0;
    };
    const exec = await context.untilKeeperSilent(
      execOrSlow(context.waitExec(run)),
      'The start is carried out once it answers',
      spawned,
    );
    const pid = 'pid' in record.state ? record.state.pid : 0;
    outcome =
      'keeperSilent' in exec
        ? { ok: false, error: `${record.id} is not started yet: ${exec.keeperSilent}` }
        : 'slow' in exec
          ? {
              ok: false,
              error: `${record.id} is not started yet: ${describeSlowExec(pid)}; the start goes on: dmctl ${record.id} status says when it runs`,
              // dmctl --wait goes on waiting, up to its own deadline.
              underway: true,
            }
          : exec.ok
            ? { ok: true, message: `${record.id} started (pid ${exec.pid})` }
            : { ok: false, error: `cannot start ${record.id}: ${exec.error}` };
  }
  if (acting && !outcome.ok && outcome.underway !== true)
    context.note(
      record,
      'refused',
      `dmctl ${request.command} of ${caller} failed: ${outcome.error}`,
    );
  // A stop's SIGTERM carried out is saved with the answer (see untilTermAnswered).
  if (request.command === 'stop' || request.command === 'restart')
    await context.supervisor.untilTermAnswered(record, TERM_ANSWER_MS);
  const unsaved = request.command === 'info' ? undefined : await context.durable();
  // Done, but not on disk: a crash of the manager now would undo it. The caller is told.
  const done = outcome.ok;
  if (unsaved !== undefined && outcome.ok)
    outcome = {
      ok: false,
      error: `${outcome.message ?? 'done'}, but ${unsaved}: a restart of the manager would undo it`,
    };
  context.audit(caller, { ...request, id: record.id }, auditOf(outcome));
  if (!outcome.ok)
    return {
      ok: false,
      error: outcome.error,
      ...(outcome.underway ? { underway: true } : {}),
      ...(done ? { unsaved: true } : {}),
    };
  if (request.command === 'info') return { ok: true, info: context.infoOf(record) };
  return { ok: true, message: outcome.message };
}

/**
 * The caller's own config problems in full (bounded per user), and those of the others
 * they manage as one count: root on a host of many users must not get every user's
 * problems with every call. `dmctl problems` lists them.
 */
function problemsFor(
  context: ControlContext,
  caller: string,
  users: readonly string[],
): Pick<Extract<Response, { ok: true }>, 'problems' | 'problemsElsewhere'> {
  let others = 0;
  let count = 0;
  for (const user of users) {
    if (user === caller) continue;
    const problems = context.problemCount(user);
    if (problems > 0) others++;
    count += problems;
  }
  // An account not known yet owns nothing meanwhile, and was told nothing: its `status`
  // empty, its `problems` too (an outside review, 56a, F7).
  const notKnown = context.notKnownYet(caller);
  return {
    problems: [
      ...(notKnown === undefined ? [] : [notKnown]),
      ...context.problemsOf(users.includes(caller) ? [caller] : []),
    ],
    ...(count === 0 ? {} : { problemsElsewhere: { users: others, problems: count } }),
  };
}

/**
 * `status` as the text dmctl prints: the table drawn for the caller's terminal, and the
 * problems for its stderr, printable. `ok` and `text` come first: a small client reads
 * them without a JSON parser of its own (native/dmctl/status.c).
 */
function statusText(
  daemons: readonly DaemonStatus[],
  table: TableRequest,
  problems: ReturnType<typeof problemsFor>,
): Response {
  const notes = problemLines(problems.problems, problems.problemsElsewhere);
  return {
    ok: true,
    text: formatStatusTable(daemons, table),
    ...(notes.length === 0 ? {} : { notes: printableLines(`${notes.join('\n')}\n`) }),
  };
}

function auditOf(outcome: Outcome | Response): string {
  return outcome.ok ? 'ok' : `failed: ${outcome.error}`;
}

/** What a start's or restart's read of the daemon's file found. */
export type Refreshed =
  | Outcome
  | { readonly ok: true; readonly message: ''; readonly refused: string };

async function act(
  context: ControlContext,
  record: DaemonRecord,
  request: Request,
): Promise<Outcome> {
  const { supervisor } = context;
  switch (request.command) {
    case 'start':
    case 'restart': {
      const refreshed = await context.refresh(record);
      if (!refreshed.ok) {
        await context.forgetIfGone(record);
        return refreshed;
      }
      if ('refused' in refreshed) {
        if (request.command === 'restart')
          return {
            ok: false,
            error: `${record.id} is not restarted: its config file is refused (${refreshed.refused}); it goes on with the config it was started with`,
          };
        const started = supervisor.start(record);
        return started.ok
          ? {
              ok: true,
              message: `${started.message}, with the config it was started with (its config file is refused: ${refreshed.refused})`,
            }
          : started;
      }
      if (request.command === 'restart') {
        // Refused before its run is stopped, as a start is: the run goes on writing the
        // file its log has open, and nothing it writes is lost.
        const refusal = context.startRefusal(record);
        const runs = record.state.kind === 'running' || record.state.kind === 'stopping';
        return refusal !== undefined && runs
          ? supervisor.refuseStart(record, refusal)
          : supervisor.restart(record);
      }
      const started = supervisor.start(record);
      // Its file changed since it started: `start` leaves a running daemon as it is.
      return started.ok && runsOldConfig(record)
        ? {
            ok: true,
            message: `${started.message}, with the config it was started with (its file changed since; a restart applies it)`,
          }
        : started;
    }
    case 'stop': {
      const outcome = supervisor.stop(record);
      // A file deleted since the last rescan: the daemon goes once stopped, as after a rescan.
      await context.forgetIfGone(record);
      return outcome;
    }
    case 'kill': {
      const signal = parseSignal(request.signal ?? '');
      if (signal === undefined) return { ok: false, error: unknownSignal(request.signal ?? '') };
      const sent = await context.untilKeeperSilent(
        supervisor.signal(record, signal),
        `The ${signal} is sent once it answers`,
      );
      return 'keeperSilent' in sent
        ? { ok: false, error: `${record.id} has no ${signal} yet: ${sent.keeperSilent}` }
        : sent;
    }
    default:
      return { ok: true, message: '' };
  }
}

/** A daemon listed only by its broken file: nothing runs, and it cannot start. */
function actOnBroken(entry: BrokenConfig, request: Request): Response {
  switch (request.command) {
    case 'start':
    case 'restart':
      return { ok: false, error: `cannot start ${entry.id}: ${entry.problem}` };
    case 'stop':
      return {
        ok: true,
        message: `${entry.id} is not running (its config is broken); it stays stopped once its file is accepted`,
      };
    default:
      return { ok: false, error: `${entry.id} has a broken config: ${entry.problem}` };
  }
}
