import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { formatProblem } from '../config/problems.ts';
import { personalPolicy } from '../policy/policy.ts';
import { judgeConfig, type ListenRights } from './judge.ts';

const FILE = '/home/alice/.daemon-manager/daemons/app.conf';
const RIGHTS: ListenRights = {
  ports: [{ from: 80, to: 80 }],
  groupOf: (name) => (name === 'web' ? 33 : { refusal: `not in ${name}` }),
};

function judge(text: string): string[] {
  const loaded = { name: 'app', file: FILE, ...parseDaemonConfig(text, FILE, 'app') };
  return judgeConfig(loaded, 'alice', personalPolicy('alice'), () => true, RIGHTS).map(
    formatProblem,
  );
}

describe('judgeConfig and listen=', () => {
  test('a refused port and group are errors on their own lines', () => {
    assert.deepEqual(
      judge(
        'start=./x\nlisten=tcp:127.0.0.1:80\nlisten=tcp:0.0.0.0:81\nlisten=unix:/s\nlisten_group=staff\n',
      ),
      [
        `${FILE}:3: error: 'listen=tcp:0.0.0.0:81' refused: port 81 is below 1024 and the master config grants 'alice' no such port ([limits] alice: ports=81)`,
        `${FILE}:5: error: not in staff`,
      ],
    );
  });
  test('a shell line that does not exec its program is warned about: LISTEN_PID would be the shell', () => {
    const [warning] = judge('start=cd /srv && ./server\nlisten=tcp:127.0.0.1:9000\n');
    assert.match(warning ?? '', /:2: warning: 'start' needs \/bin\/sh, .*'exec'/);
  });
  test('a plain line, a line with exec, and a socket on stdin need no warning', () => {
    for (const text of [
      'start=./server --port 1\nlisten=tcp:127.0.0.1:9000\n',
      'start=cd /srv && exec ./server\nlisten=tcp:127.0.0.1:9000\n',
      'start=cd /srv && php-cgi\nlisten=unix:/s\nlisten_fd=0\nlisten_group=web\n',
    ])
      assert.deepEqual(judge(text), [], text);
  });
});
