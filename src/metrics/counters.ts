/** Requests answered per command, and how many of them were refusals or failures. */
export class RequestCounts {
  private readonly counts = new Map<string, { total: number; errors: number }>();

  /** Counts one answer; `command` is `invalid` for a request that did not parse. */
  record(command: string, ok: boolean): void {
    const count = this.counts.get(command) ?? { total: 0, errors: 0 };
    count.total++;
    if (!ok) count.errors++;
    this.counts.set(command, count);
  }

  entries(): [string, { readonly total: number; readonly errors: number }][] {
    return [...this.counts].sort(([a], [b]) => a.localeCompare(b));
  }
}
