import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseDestination, type Destination, type StderrKind } from './open.ts';
import { journalRecord, syslogRecord, textLine } from './records.ts';

describe('chooseDestination', () => {
  const journal: StderrKind = { kind: 'journal' };
  const file: StderrKind = { kind: 'file', path: '/var/lib/daemon-manager/daemon-manager.log' };
  const stream: StderrKind = { kind: 'stream' };
  const closed: StderrKind = { kind: 'closed' };
  const cases: [string, boolean, boolean, StderrKind, Destination][] = [
    ['under systemd: the journal', false, false, journal, 'journal'],
    ['--syslog wins over the journal', true, false, journal, 'syslog'],
    ['--syslog wins over -d', true, true, stream, 'syslog'],
    ['in the background: its own file', false, false, file, 'file'],
    ['in the foreground: stderr', false, false, stream, 'stderr'],
    ['-d keeps the log on stderr, even under systemd', false, true, journal, 'stderr'],
    ['a closed stderr: its own file', false, false, closed, 'file'],
    ['-d with a closed stderr: its own file', false, true, closed, 'file'],
  ];
  for (const [name, syslog, debug, stderr, expected] of cases)
    test(name, () => assert.equal(chooseDestination(syslog, debug, stderr), expected));
});

describe('log records', () => {
  test('a text line has the time and level', () => {
    assert.equal(
      textLine('warn', 'x is late', new Date(Date.UTC(2026, 10, 26, 8, 30))),
      '2026-11-26T08:30:00.000Z warn x is late\n',
    );
  });

  test('a journal record has the priority, facility and identifier', () => {
    assert.equal(
      journalRecord('error', 'no space').toString(),
      'PRIORITY=3\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=daemon-manager\nMESSAGE=no space\n',
    );
  });

  test('a syslog message is <facility daemon + severity>tag[pid]: message', () => {
    assert.equal(syslogRecord('info', 'running', 42).toString(), '<30>daemon-manager[42]: running');
    assert.equal(syslogRecord('debug', 'x', 1).toString(), '<31>daemon-manager[1]: x');
  });
});
