import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseDaemonConfig } from '../config/daemon.ts';
import { daemonTemplate } from '../config/daemon-template.ts';
import { formatProblem, hasErrors } from '../config/problems.ts';
import { configHash } from '../protocol/config-hash.ts';
import type { Request, Response } from '../protocol/messages.ts';
import type { Output } from './output.ts';
import { printSaved } from './report.ts';
import { editConfig } from './viewers.ts';

/** Asks the person at the terminal what to do with a copy that has errors. */
export type AskAgain = (question: string) => Promise<'edit' | 'keep'>;

/**
 * `dmctl ID edit`, the way `visudo` and `sudoedit` do it, for the owner and root alike:
 * the editor works on a private copy (a directory only the caller can enter), never on
 * the config itself, so a config swapped for a link cannot make the caller's editor
 * write elsewhere. The copy is checked with the manager's own parser; one with errors
 * is shown with a choice to edit it again or keep the old file (without a terminal:
 * kept, exit 1). A good copy goes to the manager, which checks it again and writes it
 * as the file's owner, then loads it. A new ID begins from a commented template.
 */
export async function editDaemonConfig(
  call: (request: Request) => Promise<Response>,
  id: string,
  output: Output,
  ask: AskAgain = askOnTerminal,
): Promise<number> {
  const read = await call({ command: 'read-config', id });
  if (!read.ok) return output.fail(read.error);
  if (read.config === undefined) return output.fail('the manager sent no config');
  const { config } = read;
  const owner = config.id.slice(0, config.id.indexOf('/'));
  const name = config.id.slice(config.id.indexOf('/') + 1);
  const original = config.text ?? daemonTemplate(name, owner);
  const expect = config.text === undefined ? '' : configHash(config.text);
  const dir = mkdtempSync(join(tmpdir(), 'dmctl-edit-'));
  const copy = join(dir, `${name}.conf`);
  let keepCopy = false;
  try {
    writeFileSync(copy, original, { mode: 0o600, flag: 'wx' });
    for (;;) {
      const status = editConfig(copy);
      if (status !== 0)
        return output.fail(`the editor exited with status ${status}; ${config.file} not changed`);
      const text = readFileSync(copy, 'utf8');
      if (text === original) {
        output.note(
          config.text === undefined
            ? `no changes: ${config.id} not created\n`
            : `no changes: ${config.file} left as it was\n`,
        );
        return 0;
      }
      const problems = parseDaemonConfig(text, config.file, name).problems;
      let refusal: { error: string; problems: readonly string[] };
      if (hasErrors(problems)) {
        refusal = {
          error: `${config.file} not saved: the edited copy has errors`,
          problems: problems.map(formatProblem),
        };
      } else {
        const saved = await call({ command: 'save-config', id: config.id, source: copy, expect });
        if (saved.ok) return printSaved(saved, output);
        if (saved.problems === undefined) {
          // Not the copy's fault (the file changed meanwhile...): the edit is not lost.
          keepCopy = true;
          return output.fail(`${saved.error}; your edited copy is kept in ${copy}`);
        }
        refusal = { error: saved.error, problems: saved.problems };
      }
      output.note(`${refusal.problems.join('\n')}\n`);
      if (!process.stdin.isTTY)
        return output.fail(`${refusal.error}; ${config.file} kept as it was`);
      const choice = await ask(`What now? (e)dit again, or (k)eep ${config.file} as it was [e]: `);
      if (choice === 'keep')
        return output.fail(`${config.file} kept as it was; the edit is dropped`);
    }
  } finally {
    if (!keepCopy) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Asks on the terminal until the answer is e, edit, k or keep (or empty: edit); the end
 * of input (^D) keeps the file as it was.
 */
async function askOnTerminal(question: string): Promise<'edit' | 'keep'> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  const ended = new Promise<string>((resolve) => terminal.once('close', () => resolve('k')));
  try {
    for (;;) {
      const answer = (await Promise.race([terminal.question(question), ended])).trim();
      if (/^k(eep)?$/i.test(answer)) return 'keep';
      if (/^(e(dit)?)?$/i.test(answer)) return 'edit';
      process.stderr.write(`please answer e (edit again) or k (keep the file as it was)\n`);
    }
  } finally {
    terminal.close();
  }
}
