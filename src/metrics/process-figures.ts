import { readdirSync, readFileSync } from 'node:fs';
import type { ProcessFigures } from './render.ts';

/** The manager's own figures, from Node and /proc/self. */
export function processFigures(): ProcessFigures {
  const cpu = process.cpuUsage();
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    residentBytes: process.memoryUsage.rss(),
    // Less the descriptor that reads the directory.
    openFds: readdirSync('/proc/self/fd').length - 1,
    maxFds: maxOpenFiles(),
    startTimeSeconds: Math.round(Date.now() / 1000 - process.uptime()),
  };
}

function maxOpenFiles(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}
