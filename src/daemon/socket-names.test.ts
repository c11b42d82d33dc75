import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NO_LISTEN } from '../config/listen.ts';
import { parseStoreName, socketKey, storeName } from './socket-names.ts';

describe('the names of held sockets in the keeper store', () => {
  const unix = { kind: 'unix' as const, path: '/home/a b/run/x.sock' };
  const tcp = { kind: 'tcp' as const, host: '::1', port: 9000 };

  test('a unix socket keeps its path (spaces too), mode, group and file through the store', () => {
    const key = socketKey(unix, { ...NO_LISTEN, mode: 0o600 }, 33);
    assert.equal(key, 'unix:/home/a b/run/x.sock 600 33');
    const name = storeName('alice/web', { dev: 2049, ino: 77 }, key);
    assert.deepEqual(parseStoreName(name), {
      id: 'alice/web',
      key,
      address: unix,
      made: { dev: 2049, ino: 77 },
    });
  });

  test('a TCP socket has no file, and its key is its address', () => {
    const key = socketKey(tcp, NO_LISTEN, undefined);
    assert.equal(key, 'tcp:[::1]:9000');
    assert.deepEqual(parseStoreName(storeName('alice/web', undefined, key)), {
      id: 'alice/web',
      key,
      address: tcp,
      made: undefined,
    });
  });

  test('a change of mode or group is a change of key: the socket is bound again', () => {
    assert.notEqual(socketKey(unix, NO_LISTEN, undefined), socketKey(unix, NO_LISTEN, 33));
    assert.notEqual(
      socketKey(unix, NO_LISTEN, undefined),
      socketKey(unix, { ...NO_LISTEN, mode: 0o666 }, undefined),
    );
  });

  test('names this manager did not write are not taken', () => {
    for (const name of [
      'ctl:alice',
      'lsn:',
      'lsn:alice/web - ftp:x',
      'lsn:alice/web 1 tcp:127.0.0.1:1',
    ])
      assert.equal(parseStoreName(name), undefined, name);
  });
});
