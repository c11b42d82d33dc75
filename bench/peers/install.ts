import { execFileSync } from 'node:child_process';

let aptUpdated = false;

/**
 * Installs Debian packages that are missing. `apt-get update` runs once per bench (and
 * only if something is missing). Recommends are left out: runit's would pull runit-run,
 * which registers a system-wide runsvdir service. A package's maintainer scripts may try
 * to start its system service; where /usr/sbin/policy-rc.d says no (as in containers)
 * they don't, and the bench never uses those services anyway: each peer runs from a
 * temporary directory of its own.
 */
export function ensureDebPackages(packages: readonly string[], probe: string): void {
  if (hasCommand(probe)) return;
  if (!aptUpdated) {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    aptUpdated = true;
  }
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (!hasCommand(probe)) throw new Error(`${probe} is still missing after installing ${packages}`);
}

/** The installed version of a Debian package. */
export function debVersion(pkg: string): string {
  try {
    // `dpkg-query -W NAME` prints `NAME<TAB>VERSION`.
    const line = execFileSync('dpkg-query', ['-W', pkg], { encoding: 'utf8' });
    return line.trim().split('\t')[1] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
