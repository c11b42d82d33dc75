import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_QUOTA } from '../process/cgroup.ts';
import { applyQuotaToRunning, describeQuota, sameQuota } from './quota-changes.ts';

const quota = {
  memory: 64 * 1024 * 1024,
  cpu: undefined,
  tasks: 50,
  cpuWeight: undefined,
  fairShare: true,
};

test('a quota is said by what it limits, or as none; a fair CPU share goes unsaid, its absence not', () => {
  assert.equal(describeQuota(quota), 'memory=67108864, tasks=50');
  assert.equal(describeQuota({ ...NO_QUOTA, fairShare: true }), 'none');
  assert.equal(
    describeQuota({ ...quota, cpuWeight: 400 }),
    'memory=67108864, tasks=50, cpu-weight=400',
  );
  assert.equal(describeQuota(NO_QUOTA), 'cpu-fair-share=no');
});

test('quotas are the same when every limit is', () => {
  assert.ok(sameQuota(quota, { ...quota }));
  assert.ok(!sameQuota(quota, { ...quota, tasks: 51 }));
  assert.ok(!sameQuota(quota, { ...quota, cpuWeight: 100 }));
  assert.ok(!sameQuota(quota, { ...quota, fairShare: false }));
  assert.ok(!sameQuota(quota, NO_QUOTA));
});

test('without cgroups, a quota given to running daemons is said to miss its controllers', async () => {
  const { line, warn, restart } = await applyQuotaToRunning(undefined, 'alice', quota, [
    { id: 'alice/web' },
  ]);
  assert.ok(warn);
  assert.match(line, /'alice' is now memory=67108864, tasks=50: .*controllers memory, pids/);
  assert.match(line, /daemons with processes are not under it/);
  assert.equal(restart.size, 0);
});
