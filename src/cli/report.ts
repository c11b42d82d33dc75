import type { RescanReport, Response } from '../protocol/messages.ts';
import { problemLines } from '../protocol/status-table.ts';
import type { Output } from './output.ts';

type Answer = Extract<Response, { ok: true }>;

/** What a rescan did, one line per daemon: added, changed, removed, refused. */
export function formatRescan(report: RescanReport): string[] {
  const restarted = new Set(report.restarted);
  const notRestarted = new Set(report.notRestarted);
  const how = (id: string): string =>
    restarted.has(id) ? ' (restarted)' : notRestarted.has(id) ? ' (not restarted)' : '';
  const lines = [
    ...(report.judged === undefined ? [] : [`judged: ${report.judged}`]),
    ...report.added.map((id) => `added: ${id}`),
    ...(report.notLoaded ?? []).map((id) => `new: ${id} (not loaded)`),
    ...report.changed.map((id) => `changed: ${id}${how(id)}`),
    ...(report.notStarted ?? []).map((id) => `accepted: ${id} (not started)`),
    // "Removed" alone read as stopped: eleven output floods ran on, unnoticed, for
    // minutes (an outside review, 51b, F4).
    ...report.removed.map(
      (id) =>
        `removed: ${id} (its file is gone; a run of it goes on until stopped, then it is forgotten)`,
    ),
    ...report.refused.map((id) => `refused: ${id}`),
  ];
  if (report.refusedMore > 0) lines.push(`refused: ${report.refusedMore} more`);
  const held = heldBack(report);
  if (held > 0)
    lines.push(
      `held back: ${held} of the starts and restarts this rescan would make: ${report.heldBackWhy ?? 'refused'}. A later rescan makes them; until then a changed daemon runs with the config it was started with`,
    );
  return lines.length === 0 ? ['nothing changed'] : lines;
}

/** True when a rescan refused a file, a restart or a start: `dmctl rescan` then exits non-zero. */
export function refusedAny(report: RescanReport | undefined): boolean {
  return report !== undefined && report.refused.length + report.refusedMore + heldBack(report) > 0;
}

/** The starts and restarts the start budget held back. */
export function heldBack(report: RescanReport | undefined): number {
  return (
    (report?.notRestarted?.length ?? 0) +
    (report?.notLoaded?.length ?? 0) +
    (report?.notStarted?.length ?? 0)
  );
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
  return heldBack(answer.rescan) > 0 ? 1 : 0;
}
