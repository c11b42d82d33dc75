import type { Logger } from '../logging/logger.ts';
import { readStat } from '../process/process-group.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import { type Handover, snapshot } from './snapshot.ts';
import type { StateFile } from './state-file.ts';

// Changes within this window (a crash storm, a start of many daemons) are saved once.
const COALESCE_MS = 20;

/**
 * Saves the supervisor's records to the state file soon after they change. A save that
 * fails (a full disk) is reported once and retried at the next change: the daemons keep
 * running either way.
 */
export class StateSaver {
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private readonly file: StateFile;
  private readonly records: () => Iterable<DaemonRecord>;
  private readonly log: Logger;

  constructor(file: StateFile, records: () => Iterable<DaemonRecord>, log: Logger) {
    this.file = file;
    this.records = records;
    this.log = log;
  }

  /** Saves soon. */
  schedule(): void {
    this.timer ??= setTimeout(() => this.save(false), COALESCE_MS);
  }

  /** Saves now; `clean` after every daemon was stopped, `handover` before an upgrade. */
  save(clean: boolean, handover?: Handover): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.file.save(snapshot(this.records(), (pid) => readStat(pid)?.startTime, clean, handover));
      if (this.failing) this.log.info(`state saved again in ${this.file.path}`);
      this.failing = false;
    } catch (error) {
      if (!this.failing)
        this.log.error(
          `cannot save the state in ${this.file.path}: ${(error as Error).message}; daemons keep running`,
        );
      this.failing = true;
    }
  }
}
