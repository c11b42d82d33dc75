import { cpus, loadavg, release, totalmem } from 'node:os';
import { readProc } from '../measures/proc.ts';

/** What the figures were measured on. */
export function describeMachine(): Record<string, string> {
  const cpuinfo = readProc('/proc/cpuinfo');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const distro = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readProc('/etc/os-release'))?.[1] ?? '';
  return {
    CPU: model.trim(),
    cores: String(cpus().length),
    RAM: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `Linux ${release()}`,
    system: distro,
    'load average at start': loadavg()
      .map((load) => load.toFixed(2))
      .join(' '),
  };
}
