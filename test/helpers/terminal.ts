import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestHost } from './host.ts';

/** A reply typed at the terminal once the output so far matches `after`. */
export interface TerminalAnswer {
  readonly after: RegExp;
  readonly answer: string;
}

let wrappers = 0;

/**
 * Runs a command as a sandbox user on a pseudo-terminal (util-linux `script`), as a
 * person would at a shell, typing each answer once the output asks for it. Returns the
 * exit status and everything the terminal showed (CRLF made LF). A command that does not
 * end within `deadlineMs` is killed and reported with code -1.
 */
export function runOnTerminal(
  host: TestHost,
  short: string,
  env: Readonly<Record<string, string>>,
  command: readonly string[],
  answers: readonly TerminalAnswer[],
  deadlineMs = 30_000,
): Promise<{ code: number; output: string }> {
  const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;
  const wrapper = join(host.dir, `terminal-${++wrappers}.sh`);
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${quote(value)}`);
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec env ${assignments.join(' ')} ${command.map(quote).join(' ')}\n`,
  );
  chmodSync(wrapper, 0o755);
  const child = spawn(
    'runuser',
    ['-u', host.user(short).name, '--', 'script', '-qec', wrapper, '/dev/null'],
    { stdio: ['pipe', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  let next = 0;
  const onData = (chunk: Buffer): void => {
    output += chunk.toString().replaceAll('\r\n', '\n');
    const pending = answers[next];
    if (pending?.after.test(output)) {
      next++;
      child.stdin.write(`${pending.answer}\n`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.stdin.on('error', () => {});
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, deadlineMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}
