import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DatagramReceiver } from '../../test/helpers/datagrams.ts';
import { loadSendDatagram } from './datagram.ts';
import { notifier } from './notify.ts';

describe('sendDatagram (native/datagram.c)', () => {
  const send = loadSendDatagram();
  const dir = mkdtempSync(join(tmpdir(), 'dm-dgram-'));
  const receivers: DatagramReceiver[] = [];
  after(() => {
    for (const receiver of receivers) receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sends one datagram to a socket path', async () => {
    const receiver = await DatagramReceiver.open(join(dir, 'notify'));
    receivers.push(receiver);
    send(receiver.path, Buffer.from('READY=1'));
    assert.equal(await receiver.waitFor('READY=1', (m) => m === 'READY=1'), 'READY=1');
  });

  test("sends to an abstract address, written with '@' as $NOTIFY_SOCKET may be", async () => {
    const receiver = await DatagramReceiver.open(`@dm-test-${randomBytes(6).toString('hex')}`);
    receivers.push(receiver);
    const notify = notifier(send, receiver.path, (message) => assert.fail(message));
    notify('STATUS=fine');
    await receiver.waitFor('STATUS=fine', (m) => m === 'STATUS=fine');
  });

  test('a missing socket is an error with its errno code, not a crash', () => {
    assert.throws(
      () => send(join(dir, 'nobody-here'), Buffer.from('x')),
      (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
    );
  });

  test('a path too long for a socket address is refused', () => {
    assert.throws(
      () => send(`/${'x'.repeat(200)}`, Buffer.from('x')),
      (error: NodeJS.ErrnoException) => error.code === 'ENAMETOOLONG',
    );
  });

  test('without $NOTIFY_SOCKET, notifying does nothing', () => {
    notifier(send, undefined, () => assert.fail('no error expected'))('READY=1');
  });

  test('a notify socket that is gone is reported, once per send, not thrown', () => {
    const errors: string[] = [];
    notifier(send, join(dir, 'gone'), (message) => errors.push(message))('READY=1');
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /sd_notify to .*gone: sendto: No such file/);
  });
});
