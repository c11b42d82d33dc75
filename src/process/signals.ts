import { constants } from 'node:os';
import { printableJson } from '../protocol/printable.ts';

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

/** Why `text` is no signal kill may send (dmctl says it before it asks, the manager again). */
export function unknownSignal(text: string): string {
  return `unknown signal ${printableJson(text.slice(0, 40))} (try -HUP, -TERM, -KILL or a number from 1 to 31; real-time signals are not sent)`;
}
