import { mayManage } from '../policy/authorize.ts';
import type { Policy } from '../policy/policy.ts';
import { parseSignal } from '../process/signals.ts';
import type { DaemonInfo, LogChunk, Request, Response } from '../protocol/messages.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Outcome, Supervisor } from '../supervisor/supervisor.ts';
import { resolveId } from './resolve-id.ts';
import { statusOf } from './status.ts';

/** What the request handlers need from the manager. */
export interface ControlContext {
  readonly supervisor: Supervisor;
  policy(): Policy;
  /** Re-reads the config files of these users; returns their problems. */
  rescan(users: readonly string[]): void;
  /** Re-reads one daemon's config if it changed; an error if it is now invalid or gone. */
  refresh(record: DaemonRecord): Outcome;
  /** Formatted config problems of these users' files. */
  problemsOf(users: readonly string[]): string[];
  infoOf(record: DaemonRecord): DaemonInfo;
  /** A piece of the daemon's log, read as its owner. */
  readLog(record: DaemonRecord, offset: number): LogChunk | { error: string };
  /** Users with daemons (or config problems) that the manager knows of. */
  owners(): readonly string[];
  audit(caller: string, request: Request, outcome: string): void;
  /** Resolves once the run's child has become the daemon, or with why it could not. */
  waitExec(run: number): Promise<{ ok: true; pid: number } | { ok: false; error: string }>;
  /** Resolves once every change so far is saved: an answer is only given then. */
  durable(): Promise<void>;
}

/** Answers one request from `caller`, who has been authenticated by their socket. */
export async function handleRequest(
  context: ControlContext,
  caller: string,
  request: Request,
): Promise<Response> {
  const policy = context.policy();
  const manageable = (user: string): boolean => mayManage(policy, caller, user);
  const visible = (): DaemonRecord[] =>
    [...context.supervisor.daemons.values()].filter((record) => manageable(record.owner));
  const visibleUsers = (): string[] => context.owners().filter(manageable);

  switch (request.command) {
    case 'status':
    case 'list': {
      let records = visible();
      if (request.id !== undefined) {
        const resolved = resolveId(
          request.id,
          records.map((record) => record.id),
          manageable,
        );
        if (!resolved.ok) {
          // Asking after others' daemons is how one probes for them: kept in the audit trail.
          context.audit(caller, request, `refused: ${resolved.error}`);
          return { ok: false, error: resolved.error };
        }
        records = records.filter((record) => record.id === resolved.id);
      }
      const now = Date.now();
      const daemons = records
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((record) => statusOf(record, now));
      return { ok: true, daemons, problems: context.problemsOf(visibleUsers()) };
    }
    case 'rescan': {
      const users = visibleUsers();
      context.rescan(users);
      await context.durable();
      context.audit(caller, request, 'ok');
      return {
        ok: true,
        message: `rescanned ${users.join(', ') || 'nothing'}`,
        problems: context.problemsOf(users),
      };
    }
    default:
      break;
  }

  const resolved = resolveId(
    request.id ?? '',
    visible().map((record) => record.id),
    manageable,
  );
  if (!resolved.ok) {
    context.audit(caller, request, `refused: ${resolved.error}`);
    return { ok: false, error: resolved.error };
  }
  const record = context.supervisor.daemons.get(resolved.id);
  if (record === undefined) return { ok: false, error: `unknown daemon '${resolved.id}'` };
  if (request.command === 'read-log') {
    const chunk = context.readLog(record, request.offset ?? 0);
    return 'error' in chunk ? { ok: false, error: chunk.error } : { ok: true, log: chunk };
  }
  let outcome = await act(context, record, request);
  // A start is answered once the daemon's program runs, or with why it cannot: a dir=
  // it cannot enter is an error of `start`, not a silent crash loop.
  if (outcome.ok && outcome.run !== undefined) {
    const exec = await context.waitExec(outcome.run);
    outcome = exec.ok
      ? { ok: true, message: `${record.id} started (pid ${exec.pid})` }
      : { ok: false, error: `cannot start ${record.id}: ${exec.error}` };
  }
  if (request.command !== 'info') await context.durable();
  context.audit(
    caller,
    { ...request, id: record.id },
    outcome.ok ? 'ok' : `failed: ${outcome.error}`,
  );
  if (!outcome.ok) return { ok: false, error: outcome.error };
  if (request.command === 'info') return { ok: true, info: context.infoOf(record) };
  return { ok: true, message: outcome.message };
}

function act(
  context: ControlContext,
  record: DaemonRecord,
  request: Request,
): Outcome | Promise<Outcome> {
  const { supervisor } = context;
  switch (request.command) {
    case 'start':
    case 'restart': {
      const refreshed = context.refresh(record);
      if (!refreshed.ok) return refreshed;
      return request.command === 'start' ? supervisor.start(record) : supervisor.restart(record);
    }
    case 'stop':
      return supervisor.stop(record);
    case 'kill': {
      const signal = parseSignal(request.signal ?? '');
      if (signal === undefined)
        return { ok: false, error: 'unknown signal (try -HUP, -TERM, -KILL or a number)' };
      return supervisor.signal(record, signal);
    }
    default:
      return { ok: true, message: '' };
  }
}
