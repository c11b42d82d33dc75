import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import type { Request } from '../protocol/messages.ts';
import { newRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { type ControlContext, handleRequest } from './handlers.ts';

// An outside review (74a, F5: 4 of 10): a restart reads the daemon's file first; a stop
// that came 0-2 ms after it took effect before it, and the daemon ran on, wanted up, though
// both were answered and `why` said the stop last. Each command now takes effect in turn.
test('commands on a daemon take effect in the order they came, a file read or not', async () => {
  const { spec } = parseDaemonConfig('start=sleep 100\n', '/x/web.conf', 'web');
  assert.ok(spec);
  const record = newRecord('alice', spec);
  const done: string[] = [];
  const noted: string[] = [];
  const reads: (() => void)[] = [];
  const supervisor = {
    daemons: new Map([[record.id, record]]),
    start: () => {
      done.push('start');
      return { ok: true, message: 'started' };
    },
    restart: () => {
      done.push('restart');
      return { ok: true, message: 'restarting' };
    },
    stop: () => {
      done.push('stop');
      return { ok: true, message: 'stopping' };
    },
    untilTermAnswered: async () => {},
  } as unknown as Supervisor;
  const known: Partial<ControlContext> = {
    supervisor,
    policy: () => ({ runAs: new Map([['alice', new Set(['alice'])]]), manages: new Map() }),
    brokenConfigs: () => [],
    shuttingDown: () => false,
    takeStart: () => undefined,
    startRefusal: () => undefined,
    // The file's read takes a while: it ends when the test says so.
    refresh: () => new Promise((resolve) => reads.push(() => resolve({ ok: true, message: '' }))),
    forgetIfGone: async () => {},
    durable: async () => undefined,
    note: (_record, _kind, text) => noted.push(text),
    audit: () => {},
  };
  const context = new Proxy(known, {
    get: (target, key) => {
      const value = (target as Record<string | symbol, unknown>)[key];
      if (value === undefined) throw new Error(`the test's context has no ${String(key)}`);
      return value;
    },
  }) as ControlContext;
  const ask = (command: Request['command']) =>
    handleRequest(context, 'alice', { command, id: 'alice/web' });

  for (const first of ['restart', 'start'] as const) {
    done.length = 0;
    noted.length = 0;
    const answers = [ask(first), ask('stop')];
    // Both are in before the file is read: the stop waits for the command before it.
    await new Promise(setImmediate);
    assert.deepEqual(done, [], first);
    for (const read of reads.splice(0)) read();
    const replies = await Promise.all(answers);
    assert.ok(
      replies.every((reply) => reply.ok),
      JSON.stringify(replies),
    );
    assert.deepEqual(done, [first, 'stop'], first);
    assert.deepEqual(noted, [`alice ran dmctl ${first}`, 'alice ran dmctl stop'], first);
  }
});
