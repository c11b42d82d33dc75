import type { RunHeader } from './results.ts';

/** KiB as MiB with one decimal; '–' for no figure. */
export function mib(kb: number): string {
  return Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '–';
}

export function int(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value)) : '–';
}

export function fixed(digits: number): (value: number) => string {
  return (value) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
}

/** mine / theirs with two decimals; '–' when either is missing or theirs is 0. */
export function ratioOf(mine: number, theirs: number): string {
  if (!Number.isFinite(mine) || !Number.isFinite(theirs) || theirs === 0) return '–';
  return (mine / theirs).toFixed(2);
}

/** A Markdown table; figures right-aligned after the first column, unless `text`. */
export function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  text = false,
): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, index) => (index === 0 || text ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

/** The machine and the versions measured, as two small tables. */
export function describeRun(header: RunHeader): string[] {
  return [
    '| machine | |',
    '| --- | --- |',
    ...Object.entries(header.machine).map(([key, value]) => `| ${key} | ${value} |`),
    '',
    '| measured | version |',
    '| --- | --- |',
    ...Object.entries(header.versions).map(([key, value]) => `| ${key} | ${value} |`),
    '',
  ];
}

/** `2026-12-02 05:00 UTC, 21 min` */
export function when(header: RunHeader): string {
  return `${header.date.replace('T', ' ').slice(0, 16)} UTC, ${Math.round(header.durationS / 60)} min`;
}
