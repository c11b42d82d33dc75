import type { RescanReport, Response } from '../protocol/messages.ts';
import { problemLines } from '../protocol/status-table.ts';
import type { Output } from './output.ts';

type Answer = Extract<Response, { ok: true }>;

/** What a rescan did, one line per daemon: added, changed, removed, refused. */
export function formatRescan(report: RescanReport): string[] {
  const restarted = new Set(report.restarted);
  const notRestarted = new Set(report.notRestarted);
  const notStarted = report.notStarted ?? [];
  const how = (id: string): string =>
    restarted.has(id) ? ' (restarted)' : notRestarted.has(id) ? ' (not restarted)' : '';
  const lines = [
    ...report.added.map((id) => `added: ${id}`),
    ...notStarted.map((id) => `new: ${id} (not loaded)`),
    ...report.changed.map((id) => `changed: ${id}${how(id)}`),
    ...report.removed.map((id) => `removed: ${id} (forgotten once stopped)`),
    ...report.refused.map((id) => `refused: ${id}`),
  ];
  if (report.refusedMore > 0) lines.push(`refused: ${report.refusedMore} more`);
  const held = [
    ...(notRestarted.size > 0
      ? [`${count(notRestarted.size, 'changed daemon')} not restarted`]
      : []),
    ...(notStarted.length > 0 ? [`${count(notStarted.length, 'new daemon')} not loaded`] : []),
  ];
  if (held.length > 0)
    lines.push(
      `held back: ${held.join(' and ')}: ${report.heldBackWhy ?? 'refused'}. A rescan then ${notStarted.length > 0 ? 'loads and starts the new ones' : ''}${notStarted.length > 0 && notRestarted.size > 0 ? ' and ' : ''}${notRestarted.size > 0 ? 'restarts the changed ones (until then they run with the config they were started with)' : ''}`,
    );
  return lines.length === 0 ? ['nothing changed'] : lines;
}

/** True when a rescan refused a file, a restart or a start: `dmctl rescan` then exits non-zero. */
export function refusedAny(report: RescanReport | undefined): boolean {
  return (
    report !== undefined &&
    report.refused.length +
      report.refusedMore +
      (report.notRestarted?.length ?? 0) +
      (report.notStarted?.length ?? 0) >
      0
  );
}

/** `1 new daemon`, `3 new daemons`. */
function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The config problems an answer carries, on stderr. */
export function printProblems(answer: Answer, output: Output): void {
  const lines = problemLines(answer.problems, answer.problemsElsewhere);
  if (lines.length > 0) output.note(`${lines.join('\n')}\n`);
}

/** The answer to a command: its message (or the rescan's report), then problems. */
export function printAnswer(answer: Answer, output: Output): void {
  const lines = [
    ...(answer.message ? [answer.message] : []),
    ...(answer.rescan ? formatRescan(answer.rescan) : []),
  ];
  if (output.json) {
    output.value(answer);
    return;
  }
  if (lines.length > 0) output.out(`${lines.join('\n')}\n`);
  printProblems(answer, output);
}

/** The answer to a saved edit; 1 when its rescan held a restart or a start back. */
export function printSaved(answer: Response, output: Output): number {
  if (!answer.ok) return output.fail(answer.error);
  printAnswer(answer, output);
  // Saved, and its rescan held back a restart or a start for the start budget (an outside
  // review, 39b, F4: exit 0 while the change was not applied).
  const held =
    (answer.rescan?.notRestarted?.length ?? 0) + (answer.rescan?.notStarted?.length ?? 0);
  return held > 0 ? 1 : 0;
}
