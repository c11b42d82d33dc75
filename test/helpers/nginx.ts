import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

/** Debian's nginx (`apt-get install nginx`). */
export const NGINX = '/usr/sbin/nginx';

/**
 * A PHP page and an nginx in front of it, under `dir`: nginx (master as root, workers as
 * `workerUser`) listens on 127.0.0.1:`port` and passes every request to the FastCGI
 * socket at `socket`. Its error log says why each failed request failed.
 */
export function writeNginxSite(
  dir: string,
  options: { port: number; socket: string; workerUser: string; workerGroup: string },
): { config: string; errorLog: string; script: string } {
  mkdirSync(join(dir, 'www'), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, 'temp'), { recursive: true, mode: 0o777 });
  const script = join(dir, 'www', 'index.php');
  writeFileSync(script, '<?php echo "ok ", getmypid(), "\\n";\n', { mode: 0o644 });
  const errorLog = join(dir, 'error.log');
  const temp = (name: string): string => `${name}_temp_path ${join(dir, 'temp', name)};`;
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    `daemon off;
master_process on;
user ${options.workerUser} ${options.workerGroup};
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} info;
events { worker_connections 1024; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${options.port};
    location / {
      fastcgi_pass unix:${options.socket};
      fastcgi_param SCRIPT_FILENAME ${script};
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param REDIRECT_STATUS 200;
    }
  }
}
`,
  );
  return { config, errorLog, script };
}

/** Starts nginx in the foreground; resolves once it answers on `port` (else kills it). */
export async function startNginx(config: string, port: number): Promise<ChildProcess> {
  const child = spawn(NGINX, ['-c', config, '-e', 'stderr'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let said = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    said += chunk.toString();
  });
  try {
    await waitFor(
      `nginx to answer on port ${port}`,
      async () => ((await get(port)).kind === 'error' ? undefined : true),
      { describe: () => said || `exit ${child.exitCode}` },
    );
  } catch (error) {
    // Its master runs as root: it must not outlive a test that gave up on it.
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

/** What one request got. */
export type Answer =
  | { readonly kind: 'ok'; readonly pid: number }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'error'; readonly code: string };

/** One GET of the page through nginx (a new connection each time). */
export function get(port: number): Promise<Answer> {
  return new Promise((resolve) => {
    const call = request(
      { host: '127.0.0.1', port, path: '/', agent: false, timeout: 120_000 },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on('end', () => {
          const pid = /^ok (\d+)$/m.exec(body)?.[1];
          resolve(
            response.statusCode === 200 && pid !== undefined
              ? { kind: 'ok', pid: Number(pid) }
              : { kind: 'status', status: response.statusCode ?? 0 },
          );
        });
      },
    );
    call.on('timeout', () => call.destroy(new Error('timeout')));
    call.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ kind: 'error', code: error.code ?? error.message }),
    );
    call.end();
  });
}

/** Requests sent by `parallel` loops until stopped, each answer counted. */
export interface RequestLoop {
  readonly answers: Answer[];
  stop(): Promise<void>;
}

export function requestInLoops(port: number, parallel: number): RequestLoop {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: parallel }, async () => {
    while (running) answers.push(await get(port));
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Why nginx failed requests, from its error log: `refused` are the connections to the
 * FastCGI socket that failed (nothing listening: ECONNREFUSED, or no socket file:
 * ENOENT), `broken` the requests a FastCGI process was running when it was killed (it
 * closed or reset the connection).
 */
export function nginxFailures(errorLog: string): { refused: number; broken: number } {
  const text = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
  const count = (pattern: RegExp): number => text.match(pattern)?.length ?? 0;
  return {
    refused: count(/connect\(\) to unix:\S+ failed/g),
    broken: count(
      /upstream prematurely closed|recv\(\) failed|readv\(\) failed|writev\(\) failed/g,
    ),
  };
}

/** The answers by kind: 200 with the page, 502 and other statuses, errors of nginx itself. */
export function tally(answers: readonly Answer[]): { ok: number; bad: number; errors: number } {
  return {
    ok: answers.filter((answer) => answer.kind === 'ok').length,
    bad: answers.filter((answer) => answer.kind === 'status').length,
    errors: answers.filter((answer) => answer.kind === 'error').length,
  };
}
