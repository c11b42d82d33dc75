import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Account,
  beyond,
  groupIdsOf,
  hasPrivateGroup,
  makeAccountDb,
  membersOf,
  parseGroups,
  parsePasswd,
} from './accounts.ts';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
david:x:1000:1000:David Example,,,:/home/david:/bin/bash
amy:x:1001:100::/home/amy:/bin/sh
toor:x:0:0:second root:/toor:/bin/sh
david:x:2000:2000:shadowed by the first david:/home/david2:/bin/sh
not a passwd line
bad:x:abc:1::/home/bad:/bin/sh
neg:x:-1:1::/home/neg:/bin/sh
:x:5:5::/home/nameless:/bin/sh
short:x:7:7
+::::::

`;

const GROUP = `root:x:0:
users:x:100:
www-data:x:33:david,amy
david:x:1000:
web:x:1001:david,,www-data,
bad:x:abc:david
:x:9:david
nomembers:x:42
www-data:x:3333:shadowed
`;

describe('parsePasswd', () => {
  test('reads name, uid, gid and home of each well-formed line, in order', () => {
    const expected: Account[] = [
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin' },
      { name: 'www-data', uid: 33, gid: 33, home: '/var/www' },
      { name: 'david', uid: 1000, gid: 1000, home: '/home/david' },
      { name: 'amy', uid: 1001, gid: 100, home: '/home/amy' },
      { name: 'toor', uid: 0, gid: 0, home: '/toor' },
      { name: 'david', uid: 2000, gid: 2000, home: '/home/david2' },
    ];
    assert.deepEqual(parsePasswd(PASSWD), expected);
  });

  const skipped: [string, string][] = [
    ['a line without colons', 'not a passwd line'],
    ['a non-numeric uid', 'bad:x:abc:1::/home/bad:/bin/sh'],
    ['a negative uid', 'neg:x:-1:1::/home/neg:/bin/sh'],
    ['a non-numeric gid', 'bad:x:1:g::/home/bad:/bin/sh'],
    ['an empty name', ':x:5:5::/home/nameless:/bin/sh'],
    ['a line too short to have a home', 'short:x:7:7'],
    ['an NIS compat line', '+::::::'],
    ['an empty line', ''],
  ];
  for (const [name, line] of skipped) {
    test(`skips ${name}`, () => {
      assert.deepEqual(parsePasswd(line), []);
    });
  }

  test('empty text has no accounts', () => {
    assert.deepEqual(parsePasswd(''), []);
  });
});

describe('parseGroups', () => {
  test('reads name, gid and members of each well-formed line, in order', () => {
    assert.deepEqual(parseGroups(GROUP), [
      { name: 'root', gid: 0, members: [] },
      { name: 'users', gid: 100, members: [] },
      { name: 'www-data', gid: 33, members: ['david', 'amy'] },
      { name: 'david', gid: 1000, members: [] },
      { name: 'web', gid: 1001, members: ['david', 'www-data'] },
      { name: 'nomembers', gid: 42, members: [] },
      { name: 'www-data', gid: 3333, members: ['shadowed'] },
    ]);
  });
});

describe('makeAccountDb', () => {
  const db = makeAccountDb(parsePasswd(PASSWD), parseGroups(GROUP));

  test('the first entry for a user name wins', () => {
    assert.deepEqual(db.users.get('david'), {
      name: 'david',
      uid: 1000,
      gid: 1000,
      home: '/home/david',
    });
  });

  test('the first entry for a uid wins', () => {
    assert.equal(db.byUid.get(0)?.name, 'root');
    assert.equal(db.byUid.get(2000)?.home, '/home/david2');
  });

  test('the first entry for a group name wins', () => {
    assert.equal(db.groups.get('www-data')?.gid, 33);
  });

  test('every distinct name is there once', () => {
    assert.deepEqual([...db.users.keys()], ['root', 'daemon', 'www-data', 'david', 'amy', 'toor']);
    assert.deepEqual(
      [...db.groups.keys()],
      ['root', 'users', 'www-data', 'david', 'web', 'nomembers'],
    );
  });
});

describe('membersOf', () => {
  const db = makeAccountDb(parsePasswd(PASSWD), parseGroups(GROUP));
  const cases: [string, string[] | undefined][] = [
    ['www-data', ['david', 'amy', 'www-data']],
    ['david', ['david']],
    ['users', ['amy']],
    ['web', ['david', 'www-data']],
    ['root', ['root', 'toor']],
    ['nomembers', []],
    ['nosuchgroup', undefined],
  ];
  for (const [group, expected] of cases) {
    test(`@${group} is ${expected === undefined ? 'unknown' : `[${expected.join(', ')}]`}: listed members, then those whose primary group it is`, () => {
      assert.deepEqual(membersOf(db, group), expected);
    });
  }
});

describe('groupIdsOf', () => {
  const db = makeAccountDb(parsePasswd(PASSWD), parseGroups(GROUP));
  const account = (name: string): Account => {
    const found = db.users.get(name);
    assert.ok(found, `no account ${name}`);
    return found;
  };
  const cases: [string, number[]][] = [
    ['david', [1000, 33, 1001]],
    ['amy', [100, 33]],
    ['www-data', [33, 1001]],
    ['root', [0]],
  ];
  for (const [name, expected] of cases) {
    test(`${name} belongs to gids ${expected.join(', ')}, primary first`, () => {
      assert.deepEqual(groupIdsOf(db, account(name)), expected);
    });
  }

  test('a user listed in their own primary group gets that gid once', () => {
    const selfListed = makeAccountDb(parsePasswd('eve:x:5:5::/home/eve:/bin/sh'), [
      { name: 'eve', gid: 5, members: ['eve'] },
      { name: 'ops', gid: 6, members: ['eve'] },
    ]);
    const eve = selfListed.users.get('eve');
    assert.ok(eve);
    assert.deepEqual(groupIdsOf(selfListed, eve), [5, 6]);
  });
});

describe('hasPrivateGroup', () => {
  const db = (passwd: string, groups: string) =>
    makeAccountDb(parsePasswd(passwd), parseGroups(groups));
  const alice = 'alice:x:1000:1000::/home/alice:/bin/sh\n';
  const cases: [string, string, string, boolean][] = [
    ['a group of her own, no members listed', alice, 'alice:x:1000:\n', true],
    ['a group of her own listing only her', alice, 'alice:x:1000:alice\n', true],
    [
      'a group another account has as its primary group (useradd -g)',
      `${alice}mallory:x:1001:1000::/home/mallory:/bin/sh\n`,
      'alice:x:1000:\n',
      false,
    ],
    [
      'a group listing another member',
      `${alice}mallory:x:1001:1001::/home/mallory:/bin/sh\n`,
      'alice:x:1000:mallory\n',
      false,
    ],
    ['a group listing a name with no account', alice, 'alice:x:1000:ghost\n', false],
    [
      'a second group name with the same gid listing another member',
      `${alice}mallory:x:1001:1001::/home/mallory:/bin/sh\n`,
      'alice:x:1000:\nalias:x:1000:mallory\n',
      false,
    ],
    [
      'a shared group such as users',
      `${alice}amy:x:1001:1000::/home/amy:/bin/sh\n`,
      'users:x:1000:\n',
      false,
    ],
    [
      'a gid shared only with another name for the same uid',
      `${alice}alice2:x:1000:1000::/home/alice:/bin/sh\n`,
      'alice:x:1000:alice2\n',
      true,
    ],
    ['a primary gid with no group entry, shared by nobody', alice, '', true],
  ];
  for (const [what, passwd, groups, expected] of cases)
    test(`${what}: ${expected ? 'private' : 'not private'}`, () => {
      const snapshot = db(passwd, groups);
      const account = snapshot.users.get('alice');
      assert.ok(account);
      assert.equal(hasPrivateGroup(snapshot, account), expected);
    });
});

describe('beyond', () => {
  const uidOf = (account: { uid: number }): number => account.uid;

  test('keeps what getent gave beyond the local file (another source), in order', () => {
    const local = 'root:x:0:0::/root:/bin/sh\namy:x:1001:100::/home/amy:/bin/sh\n';
    const all = `${local}ldapuser:x:5000:5000::/home/l:/bin/sh\nzed:x:5001:5000::/z:/bin/sh\n`;
    assert.deepEqual(
      beyond(parsePasswd(all), parsePasswd(local), uidOf).map((account) => account.name),
      ['ldapuser', 'zed'],
    );
  });

  test('an entry of another source with the name of a local one stays behind it', () => {
    const local = 'amy:x:1001:100::/home/amy:/bin/sh';
    const others = beyond(
      parsePasswd(`${local}\namy:x:7:7::/ldap/amy:/bin/sh`),
      parsePasswd(local),
      uidOf,
    );
    const db = makeAccountDb([...parsePasswd(local), ...others], []);
    assert.equal(db.users.get('amy')?.uid, 1001);
    assert.equal(db.byUid.get(7)?.home, '/ldap/amy');
  });

  // Taken for another source's, a local account printed otherwise by getent was kept
  // from the full read after its deletion from /etc/passwd.
  test('a local entry that getent prints otherwise than it is written is still local', () => {
    const local = 'bob:x:0010:100:Bob :/home/bob:/bin/sh \n';
    const all = 'bob:x:10:100:Bob :/home/bob:/bin/sh\n';
    assert.deepEqual(beyond(parsePasswd(all), parsePasswd(local), uidOf), []);
  });
});
