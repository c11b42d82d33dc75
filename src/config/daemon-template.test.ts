import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDaemonConfig } from './daemon.ts';
import { daemonTemplate } from './daemon-template.ts';

describe('daemonTemplate', () => {
  const template = daemonTemplate('blog', 'david');

  test('as it is, it defines nothing: no start= to run', () => {
    const { spec, problems } = parseDaemonConfig(template, 'blog.conf', 'blog');
    assert.equal(spec, undefined);
    assert.deepEqual(
      problems.map((problem) => problem.message),
      ["no 'start=' line: nothing to run"],
    );
  });

  test('with every setting uncommented, it parses without a problem', () => {
    const uncommented = template.replace(/^#(?=[a-z_]+=|export )/gm, '');
    const { spec, problems } = parseDaemonConfig(uncommented, 'blog.conf', 'blog');
    assert.deepEqual(problems, []);
    assert.equal(spec?.start, 'exec ./server --port 8080');
    assert.equal(spec?.runAs, 'david');
    assert.equal(spec?.umask, 0o022);
  });
});
