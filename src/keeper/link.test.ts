import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeeperChannel, Native } from '../process/native.ts';
import { KeeperLink } from './link.ts';

type Listener = (fields: string[] | null, fds: number[]) => void;

/** One connection to the fake keeper: what reached it, and whether the manager closed it. */
interface FakeConnection {
  readonly sent: string[][];
  closed: boolean;
}

/**
 * A keeper that answers every hello with an empty snapshot, and whose connection fails the
 * sends that `stuck` picks (a keeper stuck past SO_SNDTIMEO): those never reach it.
 */
function fakeKeeper(stuck: (connection: number, fields: readonly string[]) => boolean): {
  native: Native;
  connections: FakeConnection[];
} {
  const connections: FakeConnection[] = [];
  const native = {
    spawnKeeper: () => 4242,
    closeFd: () => undefined,
    connectKeeper(_path: string, onMessage: Listener): KeeperChannel {
      const index = connections.length;
      const connection: FakeConnection = { sent: [], closed: false };
      connections.push(connection);
      return {
        peerPid: 4242,
        send(fields) {
          if (connection.closed) throw new Error('the keeper link is closed');
          if (stuck(index, fields)) throw new Error('sending to dm-keeper: EAGAIN');
          connection.sent.push([...fields]);
          if (fields[0] === 'hello')
            setImmediate(() => {
              onMessage(['hello', '4242', '2'], []);
              onMessage(['end'], []);
            });
        },
        close() {
          connection.closed = true;
        },
      };
    },
  };
  return { native: native as unknown as Native, connections };
}

async function attach(native: Native): Promise<KeeperLink> {
  const { link } = await KeeperLink.attach(native, 'dm-keeper', '/nonexistent/keeper.sock');
  link.handle({ event: () => undefined, lost: () => undefined });
  return link;
}

describe('a request whose send to the keeper fails', () => {
  test('a quit goes again on the new connection, which then closes', async () => {
    const { native, connections } = fakeKeeper(
      (index, fields) => index === 0 && fields[0] === 'quit',
    );
    const link = await attach(native);
    link.quit();
    assert.deepEqual(connections[1]?.sent, [['hello', '5'], ['quit']]);
    assert.deepEqual(
      connections.map((connection) => connection.closed),
      [true, true],
    );
    assert.equal(link.alive, false);
  });

  test('a release goes again on the new connection, after its hello', async () => {
    const { native, connections } = fakeKeeper(
      (index, fields) => index === 0 && fields[0] === 'release',
    );
    const link = await attach(native);
    link.release(7);
    assert.deepEqual(connections[1]?.sent, [
      ['hello', '5'],
      ['release', '7'],
    ]);
    assert.equal(link.alive, true);
    link.detach();
  });

  test('is sent again once only: a request the keeper never takes does not loop', async () => {
    const { native, connections } = fakeKeeper((_, fields) => fields[0] === 'drop');
    const link = await attach(native);
    link.drop('ctl:alice');
    assert.equal(connections.length, 3);
    assert.deepEqual(connections[2]?.sent, [['hello', '5']]);
    assert.equal(link.alive, true);
    link.detach();
  });
});

describe('a reconnection whose hello fails (the keeper went between the connect and the send)', () => {
  test('says hello on one more connection, and the request goes there', async () => {
    const { native, connections } = fakeKeeper(
      (index, fields) => (index === 0 && fields[0] === 'release') || index === 1,
    );
    const link = await attach(native);
    link.release(7);
    assert.equal(connections[1]?.closed, true);
    assert.deepEqual(connections[2]?.sent, [
      ['hello', '5'],
      ['release', '7'],
    ]);
    assert.equal(link.alive, true);
    link.detach();
  });

  test('is the keeper lost when no hello goes, not an exception', async () => {
    const { native } = fakeKeeper((index, fields) => index > 0 || fields[0] === 'release');
    const { link } = await KeeperLink.attach(native, 'dm-keeper', '/nonexistent/keeper.sock');
    let lost = 0;
    link.handle({ event: () => undefined, lost: () => lost++ });
    link.release(7);
    assert.equal(lost, 1);
    assert.equal(link.alive, false);
  });
});
