import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { isOwnProcess, parentOf } from './sender.ts';

test('a descendant of the main process is its own, its parent and strangers are not', async () => {
  // A real child (sh) and grandchild (sleep): the tree as /proc tells it.
  const child = spawn('sh', ['-c', 'sleep 100 & echo $!; wait'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let grandchild = 0;
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    grandchild = Number(line.toString().trim());
    const main = child.pid ?? 0;
    assert.equal(parentOf(grandchild), main);
    assert.equal(isOwnProcess(grandchild, { leaf: undefined, mainPid: main }), true);
    assert.equal(isOwnProcess(main, { leaf: undefined, mainPid: main }), true);
    assert.equal(isOwnProcess(process.pid, { leaf: undefined, mainPid: main }), false);
    assert.equal(isOwnProcess(grandchild, { leaf: undefined, mainPid: grandchild + 1e6 }), false);
    assert.equal(isOwnProcess(1, { leaf: undefined, mainPid: 1 }), false);
    // With a cgroup, membership alone decides: a process not listed there is no member.
    assert.equal(isOwnProcess(grandchild, { leaf: '/nonexistent', mainPid: main }), false);
  } finally {
    if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
    child.kill('SIGKILL');
  }
});
