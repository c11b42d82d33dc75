import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDaemonConfig } from './daemon.ts';
import { parseMasterConfig } from './master.ts';

const EXAMPLES = join(import.meta.dirname, '../../examples');

test('the example master config in the README parses without a problem', () => {
  const file = join(EXAMPLES, 'daemon-manager.conf');
  const { config, problems } = parseMasterConfig(readFileSync(file, 'utf8'), file);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    config.canRunAs.map((rule) => rule.left.name),
    ['david', 'jim', 'webdevs'],
  );
});

test('the example daemon config parses into the FastCGI daemon it describes', () => {
  const file = join(EXAMPLES, 'daemons/blog.conf');
  const { spec, problems } = parseDaemonConfig(readFileSync(file, 'utf8'), file, 'blog');
  assert.deepEqual(problems, []);
  assert.equal(spec?.runAs, 'www-data');
  assert.equal(spec?.output, 'log');
  assert.deepEqual(spec?.env, [['PHP_FCGI_CHILDREN', '4']]);
});
