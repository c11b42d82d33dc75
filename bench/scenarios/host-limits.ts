import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** A kernel limit the bench raised, and the value it puts back. */
interface Raised {
  readonly file: string;
  readonly before: number;
}

/** A sysctl under /proc/sys, as a number. */
function readSysctl(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/** The processes and threads alive on the machine now. */
function tasksNow(): { processes: number; threads: number } {
  let processes = 0;
  let threads = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      threads += Number(
        /^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1],
      );
      processes++;
    } catch {
      // It ended meanwhile.
    }
  }
  return { processes, threads };
}

/**
 * Raises what fleets of up to `daemons` need of the machine, where it has less:
 * kernel.pid_max and kernel.threads-max (runit alone runs 2 N processes: a runsv per
 * daemon and the daemon; other sessions' processes share the same pids), and, if it
 * may, the bench's own limit of open files, which every supervisor it starts inherits
 * (dm-keeper holds a pidfd per daemon). Returns what puts the sysctls back (the bench's
 * own limit ends with it) and says what it changed.
 */
export function raiseHostLimits(daemons: number, log: (line: string) => void): () => void {
  const raised: Raised[] = [];
  const restore = (): void => {
    for (const { file, before } of raised.reverse()) {
      try {
        writeFileSync(file, String(before));
        log(`put ${file} back to ${before}`);
      } catch (error) {
        log(`could not put ${file} back to ${before}: ${(error as Error).message}`);
      }
    }
    raised.length = 0;
  };
  try {
    const now = tasksNow();
    const wanted = [
      { file: '/proc/sys/kernel/pid_max', value: now.processes + 3 * daemons + 8192 },
      { file: '/proc/sys/kernel/threads-max', value: now.threads + 3 * daemons + 8192 },
    ];
    for (const { file, value } of wanted) {
      const before = readSysctl(file);
      if (before >= value) continue;
      writeFileSync(file, String(value));
      raised.push({ file, before });
      log(`raised ${file} from ${before} to ${value} for ${daemons} daemons`);
    }
    raiseOpenFiles(2 * daemons + 4096, log);
  } catch (error) {
    restore();
    throw error;
  }
  return restore;
}

/**
 * Raises the bench's own limit of open files to `wanted`, if it is lower and the bench
 * may (raising a hard limit takes CAP_SYS_RESOURCE, which root lacks in some containers:
 * then it says so, and goes on with what it has).
 */
function raiseOpenFiles(wanted: number, log: (line: string) => void): void {
  const pid = String(process.pid);
  const [soft, hard] = execFileSync(
    'prlimit',
    ['--pid', pid, '--nofile', '--raw', '--noheadings', '--output', 'SOFT,HARD'],
    { encoding: 'utf8' },
  )
    .trim()
    .split(/\s+/)
    .map(Number);
  if (hard === undefined || hard >= wanted) return;
  try {
    execFileSync('prlimit', ['--pid', pid, `--nofile=${wanted}:${wanted}`], { stdio: 'pipe' });
    log(`raised the bench's open files limit from ${soft}:${hard} to ${wanted}`);
  } catch (error) {
    const why = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    log(
      `cannot raise the open files limit ${soft}:${hard} to ${wanted} (${why}): going on with it`,
    );
  }
}
