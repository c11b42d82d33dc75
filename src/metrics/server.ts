import type { Server } from 'node:http';
import type { ListenAddress } from '../config/settings.ts';
import type { Logger } from '../logging/logger.ts';

/** An HTTP server of /metrics; the body is made fresh for each scrape. */
export interface MetricsServer {
  readonly address: ListenAddress;
  close(): void;
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
// A scraper is one client, now and then: a few connections and short timeouts are plenty.
const MAX_CONNECTIONS = 16;
const TIMEOUT_MS = 10_000;

/**
 * Serves GET /metrics on `address`. node:http is imported here, on demand: a manager
 * without metrics-listen never loads it (its memory is a goal).
 */
export async function startMetricsServer(
  address: ListenAddress,
  body: () => string,
  log: Logger,
): Promise<MetricsServer> {
  const { createServer } = await import('node:http');
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      response.writeHead(200, { 'content-type': CONTENT_TYPE }).end(body());
    } catch (error) {
      log.error(`metrics: ${(error as Error).stack ?? error}`);
      response.writeHead(500).end();
    }
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = TIMEOUT_MS;
  server.headersTimeout = TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.error(`metrics: ${error.message}`));
  log.info(`metrics on http://${formatAddress(address)}/metrics`);
  return { address, close: () => server.close() };
}

/** `127.0.0.1:9815`, `[::1]:9815`. */
export function formatAddress(address: ListenAddress): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
