import { setTimeout as delay } from 'node:timers/promises';
import type { DaemonStatus, Request, Response } from '../protocol/messages.ts';
import { formatLastExit, unkilledNote } from '../protocol/status-table.ts';
import { formatElapsed } from '../supervisor/elapsed.ts';
import { isCutOff, isNoAnswer, REPLY_TIMEOUT_MS } from './client.ts';
import type { Output } from './output.ts';
import { chunkReader } from './remote-log.ts';

/** How often `--wait` asks the manager, and how much of the log it shows on a failure. */
const POLL_MS = 200;
const TAIL_BYTES = 4096;
const TAIL_LINES = 10;
/** The least a status asked at the very end of a wait is given to answer. */
const LAST_POLL_MS = 1_000;

/**
 * Sends a request, waiting for its answer `timeoutMs` (by default, the client's 30 s), or
 * until `signal` says it is given up.
 */
type Call = (request: Request, timeoutMs?: number, signal?: AbortSignal) => Promise<Response>;
export type WaitedVerb = 'start' | 'stop' | 'restart';

/** Where a wait ends: done, failed (with why), or not yet. */
type Verdict = { done: true } | { failed: string } | undefined;

/**
 * How long a new process must have run before `--wait` calls it started: one that fails
 * at once (a missing module, a port in use) exits well within it, and is a failure. A
 * start whose program has begun by the deadline is done without it (see `verdictOf`).
 */
export const SETTLE_MS = 1_000;

/** The process `--wait` saw running, and since when (by dmctl's clock). */
export interface Seen {
  readonly pid: number;
  readonly since: number;
  readonly respawns: number;
}

/**
 * Judges one status row of the daemon after `verb`, given the pid it had before (for a
 * restart), the running process seen first (`seen`, updated by the caller), and whether
 * the wait's deadline has come.
 */
export function verdictOf(
  verb: WaitedVerb,
  row: DaemonStatus,
  pidBefore: number,
  seen: Seen | undefined,
  now: number,
  due = false,
): Verdict {
  const down = row.state === 'stopped' || row.state === 'exited' || row.state === 'failed';
  // Stopped, or started again since by another request (its process is not the one
  // there before): the stop was done, and waiting for `stopped` would wait out the deadline.
  if (verb === 'stop')
    return down || (row.pid > 0 && row.pid !== pidBefore) ? { done: true } : undefined;
  // A task (restart=no, or on-failure) that did its work and exited cleanly is done.
  if (row.state === 'exited') return { done: true };
  const exit = formatLastExit(row);
  const lastExit = exit === '' || exit === '-' ? '' : ` (last exit: ${exit})`;
  // Stopped by someone else meanwhile: said so, not taken for a crash of the daemon.
  if (row.wanted === 'down' && (row.state === 'stopped' || row.state === 'stopping'))
    return { failed: `${row.id} was stopped by another request meanwhile` };
  if (seen !== undefined && (row.pid !== seen.pid || row.respawns !== seen.respawns)) {
    // Seen running for a while (a task that failed after its work): "at once" was said of
    // one that ran 6 s (an outside review, 72b, F5: 8 of 8). By dmctl's looks: at least.
    const ran = now - seen.since;
    const when = ran < SETTLE_MS ? 'at once' : `after at least ${formatElapsed(ran)}`;
    return {
      failed: `${row.id} exited ${row.state === 'running' ? `${when === 'at once' ? '' : `${when} `}and was started again` : when}${lastExit}`,
    };
  }
  // A restart=no task is waited for until it has exited, not merely seen running.
  const task = row.restart === 'no';
  const runs = row.state === 'running' && row.pid > 0;
  // A start whose program began just before the deadline was failed "still running" (outside
  // review 18c, 2): begun is what a start asks; the second only catches an exit at once.
  if (!task && runs && (verb === 'start' || row.pid !== pidBefore))
    return seen !== undefined && (now - seen.since >= SETTLE_MS || (verb === 'start' && due))
      ? { done: true }
      : undefined;
  if (row.state === 'coolingdown' || row.state === 'broken' || down)
    return { failed: `${row.id} is ${row.state}${lastExit}` };
  return undefined;
}

/**
 * The run to wait for after this status row: the one seen, or the new one another request
 * started meanwhile (a restart: a new pid, its count of respawns not grown, as it would
 * be by a respawn after a crash). Taken for a crash, another shell's `restart` made a
 * deploy's `restart --wait` fail with the daemon's log as for one (an outside review).
 */
export function runToWaitFor(
  seen: Seen | undefined,
  row: DaemonStatus,
  now: number,
): Seen | undefined {
  // Still starting counts: a daemon with `ready=` is `starting` until its check passes.
  const started = row.state === 'running' || row.state === 'starting';
  if (seen === undefined || !started || row.pid <= 0 || row.pid === seen.pid) return seen;
  return row.respawns <= seen.respawns
    ? { pid: row.pid, since: now, respawns: row.respawns }
    : seen;
}

/**
 * `dmctl ID start|stop|restart --wait`: the command, then the daemon's status until it
 * runs (a new pid, for a restart) or is stopped; on a failure or at the deadline, why,
 * and the last lines of its log, as `systemctl` shows them. Returns the exit code.
 */
export async function runAndWait(
  call: Call,
  verb: WaitedVerb,
  id: string,
  timeoutMs: number,
  output: Output,
): Promise<number> {
  // A manager stalled past the client's 30 s (an outside review: 35-40 s, with --wait=60)
  // ended the wait there, saying the start may not have been carried out, though it was
  // answered and the daemon ran within the 60 s asked for. The request and the status
  // before it wait as long as the user said they would (never less than any request);
  // each status after it, until the wait's deadline (see `unknownAfter`).
  const askMs = Math.max(REPLY_TIMEOUT_MS, timeoutMs);
  const started = Date.now();
  const before = await statusBefore(call, id, askMs, started + timeoutMs);
  if ('error' in before) return output.fail(before.error);
  const askedAt = Date.now();
  // Counted from the start, not from the answer: a start answered only at the manager's
  // 10 s (its program not begun) waited 10 s more than asked.
  const deadline = started + timeoutMs;
  const answer = await answerBy(call, verb, id, deadline, askMs);
  // Not answered (the deadline came first, or the connection was cut by an upgrade or the
  // manager's end): its fate is read from the daemon's status, as for one under way.
  const unanswered = answer === 'late' || (!answer.ok && isCutOff(answer.error));
  // A start whose program has not begun when the manager answers goes on: waited for here,
  // to this wait's deadline (an outside review: a 60 s wait ended at the manager's 10 s).
  // Done but not saved (the state directory full): waited for all the same, and said with
  // the outcome. Returned at once, a script's `stop --wait` learnt nothing of whether the
  // daemon had stopped (an outside review, 78a, F3: 72-139 ms, the daemon running on).
  const unsaved = answer !== 'late' && !answer.ok && answer.unsaved === true ? answer.error : '';
  if (answer !== 'late' && !answer.ok && answer.underway !== true && unsaved === '' && !unanswered)
    return output.fail(answer.error);
  const unknown = (state: string): string =>
    `the manager ${answer === 'late' ? `had not answered the ${verb} when --wait ran out` : 'closed the connection before it answered (an upgrade hands over, or it ended)'}: whether the ${verb} of ${before.row.id} was carried out is not known; it is ${state} after ${secondsSince(askedAt)} s`;
  let row = before.row;
  let seen: Seen | undefined;
  for (;;) {
    const now = await statusOf(call, before.row.id, Math.max(deadline - Date.now(), LAST_POLL_MS));
    if ('error' in now && isNoAnswer(now.error))
      return output.fail(
        unanswered ? unknown('not known') : unknownAfter(verb, before.row.id, timeoutMs),
      );
    // The old manager closing as it hands over: the new one is asked next. Nothing on the
    // socket (the manager and its keeper killed: an outside review saw --wait=40 end at
    // once, while a new manager ran the daemon 1 s later): asked again until the deadline.
    const unreachable = 'error' in now && now.unreachable === true;
    const cut = 'error' in now && (isCutOff(now.error) || unreachable);
    if ('error' in now && !cut) return output.fail(now.error);
    if ('row' in now) row = now.row;
    const due = Date.now() >= deadline;
    if (due && unreachable)
      return output.fail(
        `${now.error}; whether the ${verb} of ${before.row.id} was carried out, and what it is now, is not known after ${secondsSince(askedAt)} s`,
      );
    const fresh =
      row.state === 'running' && row.pid > 0 && (verb !== 'restart' || row.pid !== before.row.pid);
    if (!cut && seen === undefined && fresh)
      seen = { pid: row.pid, since: Date.now(), respawns: row.respawns };
    seen = runToWaitFor(seen, row, Date.now());
    // A stop not answered, the daemon wanted up: never carried out, or undone (a kill -9 of
    // the manager before it saved it). Its new pid (a respawn) was taken for another
    // request's start, the stop said done, exit 0 (an outside review, 77b, F6: 4 of 4).
    const stopLost = unanswered && verb === 'stop' && row.wanted === 'up';
    const verdict =
      cut || stopLost ? undefined : verdictOf(verb, row, before.row.pid, seen, Date.now(), due);
    if (verdict !== undefined && 'done' in verdict) {
      // Stopped without what SIGKILL has not ended: said, not hidden (outside review 18c, 6).
      const unkilled =
        row.unkilled === undefined || row.unkilled.length === 0 || row.state === 'running'
          ? ''
          : `, but ${unkilledNote(row.unkilled)} (uninterruptible sleep, as on a hung file system?): it ends when it wakes`;
      const said =
        row.state === 'running'
          ? `${row.id} running (pid ${row.pid})`
          : `${row.id} ${row.state === 'exited' && verb !== 'stop' ? `exited (${formatLastExit(row)})` : 'stopped'}${unkilled}`;
      if (unsaved !== '') return output.fail(`${said}; the manager had answered: ${unsaved}`);
      // With --json, JSON as without --wait (an outside review found text on success).
      if (output.json) output.value({ ok: true, message: said });
      else output.out(`${said}\n`);
      return 0;
    }
    // Down and wanted down, the request not answered: never carried out, or undone.
    const notDone = unanswered && verb !== 'stop' && row.wanted === 'down';
    if (verdict !== undefined && notDone)
      return failWithLog(call, row.id, unknown(row.state), output);
    const andUnsaved = unsaved === '' ? '' : `; the manager had answered: ${unsaved}`;
    if (verdict !== undefined)
      return failWithLog(call, row.id, `${verdict.failed}${andUnsaved}`, output);
    if (due) {
      const why = `${row.id} ${stillWhat(verb, row, before.row.pid)} after ${secondsSince(askedAt)} s${await lastSaid(call, row.id, askedAt)}`;
      return failWithLog(
        call,
        row.id,
        notDone || stopLost ? unknown(row.state) : `${why}${andUnsaved}`,
        output,
      );
    }
    await delay(POLL_MS);
  }
}

/**
 * The request's answer; `late` if the deadline comes first while the manager answers a
 * status (it holds a start until its program begins, 10 s: the start goes on there). A
 * `start --wait=4` of a stuck exec failed at the manager's 10 s, saying "after 4 s"
 * (outside review 18c, 2). A manager that answers nothing is waited for, as long as asked.
 */
async function answerBy(
  call: Call,
  verb: WaitedVerb,
  id: string,
  deadline: number,
  askMs: number,
): Promise<Response | 'late'> {
  const giveUp = new AbortController();
  const answer = call({ command: verb, id }, askMs, giveUp.signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const due = new Promise<'due'>((resolve) => {
    timer = setTimeout(() => resolve('due'), Math.max(0, deadline - Date.now()));
  });
  const first = await Promise.race([answer, due]);
  clearTimeout(timer);
  if (first !== 'due') return first;
  const status = await call({ command: 'status', id }, LAST_POLL_MS);
  if (!status.ok) return answer;
  giveUp.abort();
  return 'late';
}

/** What the daemon still is (or is not) at the deadline: never "still running" as a failure. */
function stillWhat(verb: WaitedVerb, row: DaemonStatus, pidBefore: number): string {
  if (row.state !== 'running') return `is still ${row.state}`;
  // Said of a stop, "began but had not run the second asked of a restart" was false three
  // ways (an outside review, 77b, F6).
  if (verb === 'stop') return `is still running (pid ${row.pid})`;
  if (row.restart === 'no') return `(a restart=no task, waited for until it exits) has not exited`;
  if (verb === 'restart' && row.pid === pidBefore)
    return `has not been restarted: pid ${row.pid} is the one from before`;
  return `began (pid ${row.pid}) but had not run the second asked of a restart`;
}

/** Seconds since `from`, to a tenth: what a message says is the real time. */
function secondsSince(from: number): string {
  return ((Date.now() - from) / 1000).toFixed(1).replace(/\.0$/, '');
}

/**
 * Why a wait ends with the daemon's state unknown: the request was carried out (the
 * manager answered it), then the manager answered no status until the wait's deadline.
 */
export function unknownAfter(verb: WaitedVerb, id: string, waitMs: number): string {
  const what = verb === 'stop' ? 'is stopped' : 'runs';
  return `${verb} ${id} was carried out (the manager answered it), but the manager answered no status within the ${Math.round(waitMs / 1000)} s of --wait (stalled or overloaded: see its log): whether ${id} ${what} now is not known`;
}

/**
 * What the manager said of the daemon last since `since` (its last event in `why`), to
 * say why a wait ran out: a restart whose stop waits on a stopped keeper ended "still
 * stopping" while the manager's log and `why` named the keeper (an outside review).
 */
async function lastSaid(call: Call, id: string, since: number): Promise<string> {
  const response = await call({ command: 'why', id }, LAST_POLL_MS);
  const events = response.ok ? (response.why?.events ?? []) : [];
  const last = events.filter((event) => event.at >= since && event.kind !== 'command').at(-1);
  return last === undefined ? '' : `; the manager's last word on it: ${last.text}`;
}

/**
 * The daemon's status before the request. A status cut unanswered (the manager killed
 * while it waited unread) or refused by a socket nothing listens on any more (the manager
 * and its keeper killed, a new one starting) is asked again until `deadline`: the request
 * is not sent yet, so nothing is in doubt. `--wait` ended there at once, 1 s into a wait
 * of 10 s, while a new manager ran the daemon 2 s later (an outside review, 20b). A socket
 * that is not there at all (no manager started) still fails at once.
 */
async function statusBefore(
  call: Call,
  id: string,
  askMs: number,
  deadline: number,
): Promise<{ row: DaemonStatus } | { error: string; unreachable?: true }> {
  for (;;) {
    const response = await call({ command: 'status', id }, askMs);
    const again = !response.ok && (isCutOff(response.error) || response.refused === true);
    if (!again || Date.now() + POLL_MS >= deadline) return statusFrom(id, response);
    await delay(POLL_MS);
  }
}

function statusFrom(
  id: string,
  response: Response,
): { row: DaemonStatus } | { error: string; unreachable?: true } {
  if (!response.ok)
    return response.unreachable
      ? { error: response.error, unreachable: true }
      : { error: response.error };
  const row = response.daemons?.[0];
  return row === undefined ? { error: `unknown daemon '${id}'` } : { row };
}

async function statusOf(
  call: Call,
  id: string,
  timeoutMs?: number,
): Promise<{ row: DaemonStatus } | { error: string; unreachable?: true }> {
  return statusFrom(id, await call({ command: 'status', id }, timeoutMs));
}

/** The reason, then the last lines of the daemon's log (read through the manager), if any. */
async function failWithLog(
  call: Call,
  id: string,
  reason: string,
  output: Output,
): Promise<number> {
  const read = chunkReader(call, id);
  const first = await read(0);
  let text = '';
  const from = 'error' in first ? 0 : Math.max(0, first.size - TAIL_BYTES);
  if (!('error' in first)) {
    // The same file, even if it was rotated between the two reads.
    const chunk = from > 0 ? await read(from, first.file) : first;
    if (!('error' in chunk)) text = Buffer.from(chunk.data, 'base64').toString('utf8');
  }
  // Read from the middle of the file, the first line is a piece of one: left out.
  const lines = text
    .split('\n')
    .slice(from > 0 ? 1 : 0)
    .filter((line) => line !== '');
  const tail = lines.slice(-TAIL_LINES);
  const log = tail.length === 0 ? '' : `\nlast lines of its log:\n${tail.join('\n')}`;
  return output.fail(`${reason}${log}`);
}
