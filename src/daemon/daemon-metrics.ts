import type { ListenAddress } from '../config/settings.ts';
import type { Logger } from '../logging/logger.ts';
import { RequestCounts } from '../metrics/counters.ts';
import type { MetricsServer } from '../metrics/server.ts';
import type { DaemonStatus } from '../protocol/messages.ts';

/**
 * The manager's side of metrics-listen: counts requests always (a few numbers), and
 * serves /metrics while the setting asks for it, loading the HTTP code only then. A
 * reload that changes the address moves the server.
 */
export class DaemonMetrics {
  readonly requests = new RequestCounts();
  private server: MetricsServer | undefined;
  private readonly rows: () => DaemonStatus[];
  private readonly log: Logger;

  constructor(rows: () => DaemonStatus[], log: Logger) {
    this.rows = rows;
    this.log = log;
  }

  /** Serves on `address`, or stops serving when it is undefined. */
  async listen(address: ListenAddress | undefined): Promise<void> {
    const current = this.server?.address;
    if (current?.host === address?.host && current?.port === address?.port) return;
    this.close();
    if (address === undefined) return;
    const { startMetricsServer } = await import('../metrics/server.ts');
    const { renderMetrics } = await import('../metrics/render.ts');
    const { processFigures } = await import('../metrics/process-figures.ts');
    try {
      this.server = await startMetricsServer(
        address,
        () => renderMetrics(this.rows(), this.requests, processFigures()),
        this.log,
      );
    } catch (error) {
      this.log.error(
        `metrics-listen: cannot listen on ${address.host}:${address.port} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
  }
}
