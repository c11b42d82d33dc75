import { spawn, spawnSync } from 'node:child_process';
import { logWriter } from './terminal-safe.ts';

/** Runs a program on the terminal and returns its exit status. */
function runInteractive(command: string, args: readonly string[]): number {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.error) {
    process.stderr.write(`dmctl: cannot run ${command}: ${result.error.message}\n`);
    return 1;
  }
  return result.status ?? 1;
}

/** Runs a command given as a string that may hold arguments ($PAGER="less -R"), via the shell. */
function runShellCommand(command: string, file: string): number {
  return runInteractive('/bin/sh', ['-c', `${command} "$1"`, 'dmctl', file]);
}

/** Shows a log: with $PAGER, less or more on a terminal; plain `cat` when piped. */
export function openLog(file: string): number {
  if (!process.stdout.isTTY) return runInteractive('cat', ['--', file]);
  const pager = process.env.PAGER;
  if (pager) return runShellCommand(pager, file);
  const less = runInteractive('less', ['--', file]);
  return less === 127 ? runInteractive('more', [file]) : less;
}

/**
 * Follows a log as it grows, across rotation. On a terminal, tail's output passes through
 * TerminalSafe, so the log's escape sequences are shown, not obeyed.
 */
export function followLog(file: string): number | Promise<number> {
  const args = ['-n', '50', '-F', '--', file];
  if (!process.stdout.isTTY) return runInteractive('tail', args);
  const tail = spawn('tail', args, { stdio: ['inherit', 'pipe', 'inherit'] });
  const write = logWriter();
  tail.stdout.on('data', write);
  return new Promise((resolve) => {
    tail.on('error', (error) => {
      process.stderr.write(`dmctl: cannot run tail: ${error.message}\n`);
      resolve(1);
    });
    tail.on('close', (code) => resolve(code ?? 1));
  });
}

/** Edits a config with $VISUAL, $EDITOR, else vi. */
export function editConfig(file: string): number {
  const editor = process.env.VISUAL || process.env.EDITOR;
  return editor ? runShellCommand(editor, file) : runInteractive('vi', ['--', file]);
}
