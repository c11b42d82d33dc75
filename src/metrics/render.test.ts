import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { ensureTool } from '../../test/helpers/debian.ts';
import type { DaemonStatus } from '../protocol/messages.ts';
import { RequestCounts } from './counters.ts';
import { escapeLabel, type ProcessFigures, renderMetrics } from './render.ts';

const ROW: DaemonStatus = {
  id: 'alice/web',
  user: 'alice',
  name: 'web',
  state: 'running',
  wanted: 'up',
  pid: 4242,
  respawns: 3,
  cooldown: 0,
  cooldownStep: 10,
  uptime: 120,
  total: 3600,
  runAs: 'www-data',
  output: 'log',
};

const PROCESS: ProcessFigures = {
  cpuSeconds: 1.25,
  residentBytes: 40_000_000,
  openFds: 12,
  maxFds: 1024,
  startTimeSeconds: 1_700_000_000,
};

/** The lines of one metric, without its HELP and TYPE. */
function samples(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('renderMetrics', () => {
  const crashing: DaemonStatus = {
    ...ROW,
    id: 'bob/worker',
    user: 'bob',
    name: 'worker',
    state: 'coolingdown',
    pid: 0,
    cooldown: 17,
    uptime: 0,
    total: 0,
    lastExit: 'killed by SIGSEGV',
    lastExitSignal: 'SIGSEGV',
  };
  const requests = new RequestCounts();
  requests.record('status', true);
  requests.record('start', false);
  requests.record('status', true);
  const text = renderMetrics([ROW, crashing], requests, PROCESS);

  test("one state series per state, 1 for the daemon's own", () => {
    assert.deepEqual(samples(text, 'daemon_manager_daemon_state').slice(0, 4), [
      'daemon_manager_daemon_state{id="alice/web",user="alice",state="running"} 1',
      'daemon_manager_daemon_state{id="alice/web",user="alice",state="stopped"} 0',
      'daemon_manager_daemon_state{id="alice/web",user="alice",state="stopping"} 0',
      'daemon_manager_daemon_state{id="alice/web",user="alice",state="coolingdown"} 0',
    ]);
  });

  test('up, respawns, uptime, cooldown left and how the last process ended', () => {
    assert.deepEqual(samples(text, 'daemon_manager_daemon_up'), [
      'daemon_manager_daemon_up{id="alice/web",user="alice"} 1',
      'daemon_manager_daemon_up{id="bob/worker",user="bob"} 0',
    ]);
    assert.ok(text.includes('daemon_manager_daemon_respawns{id="alice/web",user="alice"} 3\n'));
    assert.ok(
      text.includes('daemon_manager_daemon_uptime_seconds{id="alice/web",user="alice"} 120\n'),
    );
    assert.ok(
      text.includes('daemon_manager_daemon_cooldown_seconds{id="bob/worker",user="bob"} 17\n'),
    );
    assert.deepEqual(samples(text, 'daemon_manager_daemon_last_exit_signal'), [
      'daemon_manager_daemon_last_exit_signal{id="bob/worker",user="bob",signal="SIGSEGV"} 11',
    ]);
    assert.deepEqual(samples(text, 'daemon_manager_daemon_last_exit_code'), []);
    assert.ok(
      text.includes(
        'daemon_manager_daemon_info{id="alice/web",user="alice",name="web",run_as="www-data",output="log"} 1\n',
      ),
    );
  });

  test('requests and errors by command, and the process figures', () => {
    assert.deepEqual(samples(text, 'daemon_manager_requests_total'), [
      'daemon_manager_requests_total{command="start"} 1',
      'daemon_manager_requests_total{command="status"} 2',
    ]);
    assert.deepEqual(samples(text, 'daemon_manager_request_errors_total'), [
      'daemon_manager_request_errors_total{command="start"} 1',
      'daemon_manager_request_errors_total{command="status"} 0',
    ]);
    assert.deepEqual(samples(text, 'process_open_fds'), ['process_open_fds 12']);
    assert.deepEqual(samples(text, 'daemon_manager_daemons'), [
      'daemon_manager_daemons{state="running"} 1',
      'daemon_manager_daemons{state="stopped"} 0',
      'daemon_manager_daemons{state="stopping"} 0',
      'daemon_manager_daemons{state="coolingdown"} 1',
      'daemon_manager_daemons{state="exited"} 0',
      'daemon_manager_daemons{state="failed"} 0',
      'daemon_manager_daemons{state="starting"} 0',
      'daemon_manager_daemons{state="reloading"} 0',
    ]);
  });

  test('label values are escaped: a quote, a backslash or a newline cannot break a line', () => {
    assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
    const hostile = renderMetrics(
      [{ ...ROW, id: 'x/"} 1\nfake_metric 1', name: 'a\\', runAs: '\n' }],
      new RequestCounts(),
      PROCESS,
    );
    assert.ok(!hostile.split('\n').some((line) => line.startsWith('fake_metric')));
  });

  test('promtool finds nothing wrong, hostile names included', () => {
    ensureTool('promtool');
    const hostile = renderMetrics(
      [ROW, crashing, { ...ROW, id: 'we"ird\\/na\nme', user: 'we"ird\\', runAs: 'x\ny' }],
      requests,
      PROCESS,
    );
    for (const input of [text, hostile]) {
      const result = spawnSync('promtool', ['check', 'metrics'], { input, encoding: 'utf8' });
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
      assert.equal(`${result.stdout}${result.stderr}`.trim(), '');
    }
  });
});
