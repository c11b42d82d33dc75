import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type EditTarget, type Resolution, resolveEditTarget, resolveId } from './resolve-id.ts';

/** What the caller `david` sees: his own daemons and those of the users he manages. */
const VISIBLE = ['david/wordpress', 'david/blog', 'amy/blog', 'michaelc/blog', 'amy/shop'];
const MANAGEABLE = new Set(['david', 'amy', 'michaelc']);
const isManageable = (user: string): boolean => MANAGEABLE.has(user);

const found = (id: string): Resolution => ({ ok: true, id });
const refused = (error: string): Resolution => ({ ok: false, error });

describe('resolveId', () => {
  const cases: { name: string; query: string; expected: Resolution }[] = [
    { name: 'a full id resolves to itself', query: 'amy/shop', expected: found('amy/shop') },
    {
      name: 'a full id resolves even when its name is ambiguous',
      query: 'michaelc/blog',
      expected: found('michaelc/blog'),
    },
    {
      name: 'a unique short name resolves to its full id',
      query: 'wordpress',
      expected: found('david/wordpress'),
    },
    { name: 'another unique short name', query: 'shop', expected: found('amy/shop') },
    {
      name: 'an ambiguous short name lists the candidates sorted',
      query: 'blog',
      expected: refused("'blog' is ambiguous: amy/blog, david/blog, michaelc/blog"),
    },
    { name: 'an unknown short name', query: 'mail', expected: refused("unknown daemon 'mail'") },
    {
      name: 'an unknown name of a manageable user',
      query: 'amy/mail',
      expected: refused("unknown daemon 'amy/mail'"),
    },
    {
      name: 'a user part that is not manageable is refused, whether or not the daemon exists',
      query: 'bob/blog',
      expected: refused("not allowed: you may not manage the daemons of 'bob'"),
    },
    {
      name: 'a made-up daemon of a user that is not manageable gets the same answer',
      query: 'bob/no-such-daemon',
      expected: refused("not allowed: you may not manage the daemons of 'bob'"),
    },
    {
      name: 'root is not manageable by a user',
      query: 'root/sshd',
      expected: refused("not allowed: you may not manage the daemons of 'root'"),
    },
    {
      name: 'an empty user part is not manageable',
      query: '/blog',
      expected: refused("not allowed: you may not manage the daemons of ''"),
    },
    {
      name: 'an empty name part is unknown',
      query: 'david/',
      expected: refused("unknown daemon 'david/'"),
    },
    {
      name: 'a short name is matched exactly, not as a prefix',
      query: 'word',
      expected: refused("unknown daemon 'word'"),
    },
    {
      name: 'a short name is case-sensitive',
      query: 'Shop',
      expected: refused("unknown daemon 'Shop'"),
    },
    { name: '.. is just unknown', query: '..', expected: refused("unknown daemon '..'") },
    {
      name: 'a path escaping a manageable user is just unknown',
      query: 'david/../amy/shop',
      expected: refused("unknown daemon 'david/../amy/shop'"),
    },
    {
      name: 'a .. user part is not manageable',
      query: '../amy/shop',
      expected: refused("not allowed: you may not manage the daemons of '..'"),
    },
    {
      name: 'a Cyrillic look-alike short name is just unknown',
      query: 'sh\u043ep',
      expected: refused("unknown daemon 'sh\u043ep'"),
    },
    {
      name: 'a full-width solidus is not a slash',
      query: 'amy\uff0fshop',
      expected: refused("unknown daemon 'amy\uff0fshop'"),
    },
    {
      name: 'a look-alike user part is not manageable',
      query: '\u0430my/shop',
      expected: refused("not allowed: you may not manage the daemons of '\u0430my'"),
    },
    {
      name: 'a name with a zero-width space is just unknown',
      query: 'shop\u200b',
      expected: refused("unknown daemon 'shop\u200b'"),
    },
  ];
  for (const { name, query, expected } of cases) {
    test(name, () => {
      assert.deepEqual(resolveId(query, VISIBLE, isManageable), expected);
    });
  }

  const hostile: { name: string; query: string; error: string }[] = [
    { name: 'an empty id', query: '', error: 'daemon id must be 1 to 300 characters' },
    {
      name: 'a very long id',
      query: 'x'.repeat(301),
      error: 'daemon id must be 1 to 300 characters',
    },
    {
      name: 'a very long id of a manageable user',
      query: `amy/${'x'.repeat(400)}`,
      error: 'daemon id must be 1 to 300 characters',
    },
    { name: 'a NUL', query: 'shop\u0000', error: 'daemon id contains control characters' },
    {
      name: 'a newline',
      query: 'shop\nFAKE LOG LINE',
      error: 'daemon id contains control characters',
    },
    {
      name: 'a carriage return',
      query: 'amy/shop\r',
      error: 'daemon id contains control characters',
    },
    {
      name: 'a terminal escape',
      query: '\u001b[2Jshop',
      error: 'daemon id contains control characters',
    },
    { name: 'a tab', query: 'sh\top', error: 'daemon id contains control characters' },
    { name: 'DEL', query: 'shop\u007f', error: 'daemon id contains control characters' },
    {
      name: 'a C1 control (CSI)',
      query: '\u009b31mshop',
      error: 'daemon id contains control characters',
    },
    {
      name: 'a control character in the user part',
      query: 'bob\n/blog',
      error: 'daemon id contains control characters',
    },
  ];
  for (const { name, query, error } of hostile) {
    test(`${name} is refused without being echoed`, () => {
      assert.deepEqual(resolveId(query, VISIBLE, isManageable), refused(error));
    });
  }

  test('an id of exactly 300 characters is looked up', () => {
    const id = `amy/${'x'.repeat(296)}`;
    assert.deepEqual(resolveId(id, [id], isManageable), found(id));
  });

  test('with nothing visible, every short name is unknown', () => {
    assert.deepEqual(resolveId('blog', [], isManageable), refused("unknown daemon 'blog'"));
  });

  test('the visible ids are read once, so a generator works', () => {
    function* visible(): Generator<string> {
      yield* VISIBLE;
    }
    assert.deepEqual(resolveId('wordpress', visible(), isManageable), found('david/wordpress'));
  });

  test('the caller decides manageability: a refused user is asked about by its exact name', () => {
    const asked: string[] = [];
    resolveId('amy/shop', VISIBLE, (user) => {
      asked.push(user);
      return true;
    });
    assert.deepEqual(asked, ['amy']);
  });
});

describe('resolveEditTarget', () => {
  const cases: { name: string; query: string; expected: EditTarget }[] = [
    {
      name: 'a known short name is that daemon',
      query: 'wordpress',
      expected: { ok: true, id: 'david/wordpress', owner: 'david', name: 'wordpress', known: true },
    },
    {
      name: 'a known full id of a managed user is that daemon',
      query: 'amy/shop',
      expected: { ok: true, id: 'amy/shop', owner: 'amy', name: 'shop', known: true },
    },
    {
      name: 'an unknown short name is a new daemon of the caller',
      query: 'mail',
      expected: { ok: true, id: 'david/mail', owner: 'david', name: 'mail', known: false },
    },
    {
      name: 'an unknown full id of a manageable user is a new daemon of that user',
      query: 'amy/mail',
      expected: { ok: true, id: 'amy/mail', owner: 'amy', name: 'mail', known: false },
    },
    {
      name: 'an ambiguous short name stays refused',
      query: 'blog',
      expected: {
        ok: false,
        error: "'blog' is ambiguous: amy/blog, david/blog, michaelc/blog",
      },
    },
    {
      name: 'a user that is not manageable stays refused',
      query: 'bob/mail',
      expected: { ok: false, error: "not allowed: you may not manage the daemons of 'bob'" },
    },
    {
      name: 'a new name must be a valid daemon name',
      query: '..',
      expected: {
        ok: false,
        error:
          "unknown daemon '..'; and '..' cannot name a new one: a daemon name begins with a letter, a digit or _, then letters, digits and . _ @ + - (at most 128)",
      },
    },
    {
      name: 'a new full id with a path in its name is refused',
      query: 'david/../amy/shop',
      expected: {
        ok: false,
        error:
          "unknown daemon 'david/../amy/shop'; and '../amy/shop' cannot name a new one: a daemon name begins with a letter, a digit or _, then letters, digits and . _ @ + - (at most 128)",
      },
    },
    {
      name: 'a new name ending in .conf is taken for a file name, and the name without it offered',
      query: 'shop.conf',
      expected: {
        ok: false,
        error:
          "unknown daemon 'shop.conf'; to make a new daemon, give its name without .conf: shop",
      },
    },
    {
      name: 'control characters stay refused without being echoed',
      query: 'mail\r',
      expected: { ok: false, error: 'daemon id contains control characters' },
    },
  ];
  for (const { name, query, expected } of cases)
    test(name, () => {
      assert.deepEqual(resolveEditTarget(query, 'david', VISIBLE, isManageable), expected);
    });
});
