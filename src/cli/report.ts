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
    ...report.added.map((id) => `added: ${id}`),
    ...report.changed.map((id) => `changed: ${id}${how(id)}`),
    ...report.removed.map((id) => `removed: ${id} (forgotten once stopped)`),
    ...report.refused.map((id) => `refused: ${id}`),
  ];
  if (report.refusedMore > 0) lines.push(`refused: ${report.refusedMore} more`);
  if (notRestarted.size > 0)
    lines.push(
      `not restarted: ${notRestarted.size} changed ${notRestarted.size === 1 ? 'daemon' : 'daemons'}: ${report.notRestartedWhy ?? 'refused'}. Until a rescan restarts them, they run with the config they were started with`,
    );
  return lines.length === 0 ? ['nothing changed'] : lines;
}

/** True when a rescan refused a file or a restart: `dmctl rescan` then exits non-zero. */
export function refusedAny(report: RescanReport | undefined): boolean {
  return (
    report !== undefined &&
    report.refused.length + report.refusedMore + (report.notRestarted?.length ?? 0) > 0
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

/** The answer to a saved edit; 0. */
export function printSaved(answer: Response, output: Output): number {
  if (!answer.ok) return output.fail(answer.error);
  printAnswer(answer, output);
  return 0;
}
