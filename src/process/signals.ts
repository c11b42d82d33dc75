import { constants } from 'node:os';

// Some numbers have two names (6: SIGABRT, SIGIOT; 29: SIGIO, SIGPOLL): keep the first,
// the usual one, as kill -l does.
const BY_NUMBER = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals)
    .reverse()
    .map(([name, number]) => [number, name as NodeJS.Signals]),
);

/** Reads `-9`, `-KILL`, `-SIGKILL`, `KILL`, `SIGKILL`, `9` or `hup` as a signal name. */
export function parseSignal(text: string): NodeJS.Signals | undefined {
  const bare = text.replace(/^-/, '');
  if (/^\d+$/.test(bare)) return BY_NUMBER.get(Number(bare));
  const upper = bare.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return name in constants.signals ? (name as NodeJS.Signals) : undefined;
}
