import { watch } from 'node:fs';

/** Counts what changes in /etc from now on; `stop` ends the watch and says how much. */
export interface EtcEvents {
  stop(): number;
}

/**
 * Watches /etc as daemon-manager does (it reads the accounts again when /etc/passwd or
 * /etc/group change, and its inotify watch wakes it for every change in /etc): on a
 * machine where others add and remove users, an idle window with changes in /etc has
 * wake-ups no supervisor timer caused, and the tables say how many there were.
 */
export function countEtcEvents(): EtcEvents {
  let events = 0;
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch('/etc', { persistent: false }, () => {
      events++;
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined;
  }
  return {
    stop: () => {
      watcher?.close();
      return watcher === undefined ? Number.NaN : events;
    },
  };
}
