import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRequest, type Request } from './messages.ts';

const UNKNOWN =
  'unknown command (known: status, list, rescan, start, stop, restart, kill, info, read-log, problems, read-config, save-config, why)';
const HASH = 'a'.repeat(64);

describe('parseRequest', () => {
  const accepted: { line: string; expected: Request }[] = [
    { line: '{"command":"status"}', expected: { command: 'status' } },
    { line: '{"command":"status","id":"blog"}', expected: { command: 'status', id: 'blog' } },
    { line: '{"command":"list"}', expected: { command: 'list' } },
    { line: '{"command":"rescan"}', expected: { command: 'rescan' } },
    {
      line: '{"command":"start","id":"david/blog"}',
      expected: { command: 'start', id: 'david/blog' },
    },
    { line: '{"command":"stop","id":"blog"}', expected: { command: 'stop', id: 'blog' } },
    { line: '{"command":"restart","id":"blog"}', expected: { command: 'restart', id: 'blog' } },
    { line: '{"command":"info","id":"blog"}', expected: { command: 'info', id: 'blog' } },
    {
      line: '{"command":"read-log","id":"blog","offset":-8192}',
      expected: { command: 'read-log', id: 'blog', offset: -8192 },
    },
    {
      line: '{"command":"read-log","id":"blog","offset":4096,"file":"2049:131"}',
      expected: { command: 'read-log', id: 'blog', offset: 4096, file: '2049:131' },
    },
    {
      line: '{"command":"kill","id":"blog","signal":"-HUP"}',
      expected: { command: 'kill', id: 'blog', signal: '-HUP' },
    },
    {
      line: ' {"command":"stop","id":"blog","extra":true} \n',
      expected: { command: 'stop', id: 'blog' },
    },
    {
      line: `{"command":"stop","id":"${'x'.repeat(300)}"}`,
      expected: { command: 'stop', id: 'x'.repeat(300) },
    },
    {
      line: '{"command":"kill","id":"b","signal":"SIGRTMIN+1234567890"}',
      expected: { command: 'kill', id: 'b', signal: 'SIGRTMIN+1234567890' },
    },
    { line: '{"command":"problems"}', expected: { command: 'problems' } },
    {
      line: '{"command":"problems","user":"amy"}',
      expected: { command: 'problems', user: 'amy' },
    },
    {
      line: '{"command":"read-config","id":"blog"}',
      expected: { command: 'read-config', id: 'blog' },
    },
    {
      line: `{"command":"save-config","id":"amy/blog","source":"/tmp/dmctl-edit-x/blog.conf","expect":"${HASH}"}`,
      expected: {
        command: 'save-config',
        id: 'amy/blog',
        source: '/tmp/dmctl-edit-x/blog.conf',
        expect: HASH,
      },
    },
    {
      line: '{"command":"save-config","id":"new","source":"/tmp/x/new.conf","expect":""}',
      expected: { command: 'save-config', id: 'new', source: '/tmp/x/new.conf', expect: '' },
    },
    {
      line: '{"command":"status","table":{"color":false}}',
      expected: { command: 'status', table: { color: false } },
    },
    {
      line: '{"command":"status","id":"blog","table":{"width":80,"color":true,"x":1}}',
      expected: { command: 'status', id: 'blog', table: { width: 80, color: true } },
    },
  ];
  for (const { line, expected } of accepted) {
    test(`${line.trim().slice(0, 60)} is accepted as ${JSON.stringify(expected).slice(0, 60)}`, () => {
      assert.deepEqual(parseRequest(line), expected);
    });
  }

  const refused: { name: string; line: string; error: string }[] = [
    { name: 'an empty line', line: '', error: 'request is not valid JSON' },
    { name: 'invalid JSON', line: '{"command":', error: 'request is not valid JSON' },
    { name: 'plain text', line: 'status', error: 'request is not valid JSON' },
    { name: 'null', line: 'null', error: 'request must be a JSON object' },
    { name: 'a string', line: '"status"', error: 'request must be a JSON object' },
    { name: 'a number', line: '42', error: 'request must be a JSON object' },
    { name: 'an array', line: '["status"]', error: 'request must be a JSON object' },
    { name: 'no command', line: '{}', error: UNKNOWN },
    { name: 'an unknown command', line: '{"command":"shutdown"}', error: UNKNOWN },
    { name: 'a command of the wrong case', line: '{"command":"STATUS"}', error: UNKNOWN },
    { name: 'a dmctl-only verb', line: '{"command":"edit","id":"blog"}', error: UNKNOWN },
    { name: 'a non-string command', line: '{"command":["status"]}', error: UNKNOWN },
    { name: 'an inherited property as command', line: '{"command":"toString"}', error: UNKNOWN },
    {
      name: 'start without an id',
      line: '{"command":"start"}',
      error: "'start' needs a daemon id",
    },
    { name: 'stop without an id', line: '{"command":"stop"}', error: "'stop' needs a daemon id" },
    {
      name: 'restart without an id',
      line: '{"command":"restart"}',
      error: "'restart' needs a daemon id",
    },
    { name: 'info without an id', line: '{"command":"info"}', error: "'info' needs a daemon id" },
    {
      name: 'read-log with a fractional offset',
      line: '{"command":"read-log","id":"blog","offset":1.5}',
      error: `offset must be a whole number of bytes, at most ${Number.MAX_SAFE_INTEGER}`,
    },
    {
      name: 'read-log with a numeric file',
      line: '{"command":"read-log","id":"blog","offset":0,"file":7}',
      error: 'file must be a string of at most 60 characters',
    },
    {
      name: 'read-log with a string offset',
      line: '{"command":"read-log","id":"blog","offset":"0"}',
      error: `offset must be a whole number of bytes, at most ${Number.MAX_SAFE_INTEGER}`,
    },
    {
      name: 'kill without an id',
      line: '{"command":"kill","signal":"HUP"}',
      error: "'kill' needs a daemon id",
    },
    {
      name: 'kill without a signal',
      line: '{"command":"kill","id":"blog"}',
      error: "'kill' needs a signal",
    },
    {
      name: 'an id of 301 characters',
      line: `{"command":"stop","id":"${'x'.repeat(301)}"}`,
      error: 'id must be a string of at most 300 characters',
    },
    {
      name: 'a numeric id',
      line: '{"command":"stop","id":7}',
      error: 'id must be a string of at most 300 characters',
    },
    {
      name: 'a null id',
      line: '{"command":"stop","id":null}',
      error: 'id must be a string of at most 300 characters',
    },
    {
      name: 'a signal of 21 characters',
      line: `{"command":"kill","id":"b","signal":"${'S'.repeat(21)}"}`,
      error: 'signal must be a short string',
    },
    {
      name: 'a numeric signal',
      line: '{"command":"kill","id":"b","signal":9}',
      error: 'signal must be a short string',
    },
    {
      name: 'read-config without an id',
      line: '{"command":"read-config"}',
      error: "'read-config' needs a daemon id",
    },
    {
      name: 'save-config without a source',
      line: `{"command":"save-config","id":"b","expect":"${HASH}"}`,
      error: "'save-config' needs a source and what it expects to replace",
    },
    {
      name: 'save-config with a relative source',
      line: `{"command":"save-config","id":"b","source":"x.conf","expect":""}`,
      error: 'source must be an absolute path of at most 4096 characters',
    },
    {
      name: 'save-config with a NUL in its source',
      line: '{"command":"save-config","id":"b","source":"/tmp/a\\u0000b","expect":""}',
      error: 'source must be an absolute path of at most 4096 characters',
    },
    {
      name: 'save-config with an expect that is not a SHA-256',
      line: '{"command":"save-config","id":"b","source":"/tmp/x","expect":"abc"}',
      error: "expect must be a SHA-256 in hex, or ''",
    },
    ...[
      ['a table with list', '{"command":"list","table":{"color":false}}'],
      ['a table without color', '{"command":"status","table":{"width":80}}'],
      ['a table of width 0', '{"command":"status","table":{"width":0,"color":false}}'],
      ['a table too wide', '{"command":"status","table":{"width":10001,"color":false}}'],
      ['a table of width 8.5', '{"command":"status","table":{"width":8.5,"color":false}}'],
      ['a table that is not an object', '{"command":"status","table":[80,true]}'],
    ].map(([name, line]) => ({
      name: name as string,
      line: line as string,
      error: 'table goes with status only, as {"width": 1-10000 (or none), "color": true|false}',
    })),
    {
      name: 'a user of 301 characters',
      line: `{"command":"problems","user":"${'x'.repeat(301)}"}`,
      error: 'user must be a string of at most 300 characters',
    },
  ];
  for (const { name, line, error } of refused) {
    test(`${name} is refused: ${error}`, () => {
      assert.deepEqual(parseRequest(line), { error });
    });
  }

  test('errors never echo the request', () => {
    const evil = 'EVIL\u001b[2J';
    const requests: unknown[] = [
      { command: evil },
      { command: 'stop', id: evil.repeat(100) },
      { command: 'kill', id: 'b', signal: evil.repeat(5) },
      [evil],
    ];
    for (const request of [...requests.map((r) => JSON.stringify(r)), `${evil}{`]) {
      const result = parseRequest(request);
      assert.ok('error' in result, `accepted ${request}`);
      assert.equal(result.error.includes('EVIL'), false, result.error);
    }
  });

  test('a __proto__ key does not smuggle in a command', () => {
    assert.deepEqual(parseRequest('{"__proto__":{"command":"status"}}'), { error: UNKNOWN });
  });
});
