import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DAEMON_KEYS } from '../reference/daemon.ts';
import { parseDaemonConfig } from './daemon.ts';
import { daemonTemplate } from './daemon-template.ts';

describe('daemonTemplate', () => {
  const template = daemonTemplate('blog', 'david');

  test('it offers every key a daemon file knows', () => {
    for (const { name } of DAEMON_KEYS)
      assert.match(template, new RegExp(`^#${name}[= ]`, 'm'), `${name} is in the template`);
  });

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
    assert.equal(spec?.start, './server --port 8080');
    assert.equal(spec?.runAs, 'david');
    assert.equal(spec?.umask, 0o022);
  });
});
