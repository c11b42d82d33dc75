import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LimitRule } from '../config/limits.ts';
import { portsForUser, tcpRefusal } from './ports.ts';

const RULES: LimitRule[] = [
  { line: 1, left: { kind: 'group', name: 'web' }, values: {}, ports: [{ from: 80, to: 80 }] },
  { line: 2, left: { kind: 'user', name: 'alice' }, values: {}, ports: [{ from: 9000, to: 9099 }] },
  { line: 3, left: { kind: 'user', name: 'bob' }, values: { nofile: 10 } },
];
const inWeb = (group: string): boolean => group === 'web';
const tcp = (host: string, port: number) => ({ kind: 'tcp' as const, host, port });

describe('portsForUser', () => {
  test("adds up the user's lines and their groups' lines", () => {
    assert.deepEqual(portsForUser('alice', inWeb, RULES), [
      { from: 80, to: 80 },
      { from: 9000, to: 9099 },
    ]);
    assert.deepEqual(
      portsForUser('bob', () => false, RULES),
      [],
    );
  });
});

describe('tcpRefusal', () => {
  const alice = portsForUser('alice', () => false, RULES);
  const cases: [string, ReturnType<typeof tcp>, boolean][] = [
    ['the loopback above 1023', tcp('127.0.0.1', 8080), true],
    ['the IPv6 loopback above 1023', tcp('::1', 8080), true],
    ['a port below 1024 on the loopback', tcp('127.0.0.1', 80), false],
    ['any address, not granted', tcp('0.0.0.0', 8080), false],
    ['any address, granted', tcp('0.0.0.0', 9050), true],
    ['a granted range end', tcp('192.0.2.1', 9099), true],
    ['just past the range', tcp('192.0.2.1', 9100), false],
  ];
  for (const [what, address, allowed] of cases)
    test(`${allowed ? 'allows' : 'refuses'} ${what}`, () => {
      const refusal = tcpRefusal('alice', address, alice);
      assert.equal(refusal === undefined, allowed, refusal);
    });
  test('a port below 1024 is allowed when granted', () => {
    assert.equal(tcpRefusal('alice', tcp('127.0.0.1', 80), [{ from: 80, to: 80 }]), undefined);
  });
  test('the refusal names the address and how root would grant it', () => {
    assert.match(
      tcpRefusal('alice', tcp('127.0.0.1', 22), []) ?? '',
      /'listen=tcp:127\.0\.0\.1:22' refused: port 22 is below 1024 .*ports=22/,
    );
  });
});
