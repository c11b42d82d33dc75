import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseNotify, STATUS_CHARS } from './message.ts';

describe('parseNotify', () => {
  test('reads the assignments systemd reads, and ignores the others', () => {
    assert.deepEqual(parseNotify(Buffer.from('READY=1\nSTATUS=serving 3 clients\nMAINPID=1')), {
      ready: true,
      status: 'serving 3 clients',
    });
    assert.deepEqual(parseNotify(Buffer.from('RELOADING=1\nMONOTONIC_USEC=5')), {
      reloading: true,
    });
    assert.deepEqual(parseNotify(Buffer.from('STOPPING=1')), { stopping: true });
    assert.deepEqual(parseNotify(Buffer.from('WATCHDOG=1')), { watchdog: 'ping' });
    assert.deepEqual(parseNotify(Buffer.from('WATCHDOG=trigger')), { watchdog: 'trigger' });
    assert.deepEqual(parseNotify(Buffer.from('READY=0\nnonsense')), {});
  });

  test('a pid in the text changes nothing: who sent it is the kernel’s word', () => {
    assert.deepEqual(parseNotify(Buffer.from('MAINPID=1\nREADY=1')), { ready: true });
  });

  test('refuses a datagram holding a NUL', () => {
    assert.equal(parseNotify(Buffer.from('READY=1\0STATUS=x')), undefined);
  });

  test('STATUS= reaches a terminal escaped and bounded', () => {
    const status = parseNotify(Buffer.from('STATUS=\u001b[2Jgone\u009b\r'))?.status;
    assert.equal(status, '\\x1b[2Jgone\\x9b\\r');
    const long = parseNotify(Buffer.from(`STATUS=${'é'.repeat(1000)}`))?.status ?? '';
    assert.equal([...long].length, STATUS_CHARS);
    assert.ok(long.endsWith('…'));
    const astral = parseNotify(Buffer.from(`STATUS=${'😀'.repeat(1000)}`))?.status ?? '';
    assert.equal(astral, `${'😀'.repeat(STATUS_CHARS - 1)}…`);
    const exact = parseNotify(Buffer.from(`STATUS=${'😀'.repeat(STATUS_CHARS)}`))?.status;
    assert.equal(exact, '😀'.repeat(STATUS_CHARS));
  });
});
