import { join } from 'node:path';
import type { DaemonSpec } from '../config/daemon.ts';
import type { Settings } from '../config/settings.ts';
import type { Logger } from '../logging/logger.ts';
import { openLog, rotateLogFiles } from '../logs/log-file.ts';
import { type LogOptions, LogWriter } from '../logs/log-writer.ts';
import { asUser } from '../users/impersonate.ts';
import type { Owner } from './owner.ts';
import { createOwnerDirs } from './scan.ts';

/** The log writers of every daemon with `output=log`, each touching files as its owner. */
export class DaemonLogs {
  private readonly writers = new Map<
    string,
    { writer: LogWriter; path: string; options: string }
  >();
  /** The admin's settings; replaced on reload, applied at each daemon's next start. */
  settings: Settings;
  private readonly log: Logger;

  constructor(settings: Settings, log: Logger) {
    this.settings = settings;
    this.log = log;
  }

  /** Where a daemon's log is. */
  static pathOf(owner: Owner, spec: DaemonSpec): string {
    return join(owner.logDir, `${spec.name}.log`);
  }

  /**
   * The writer of a daemon's log, opened if need be; an error when the file cannot be
   * opened (a symlink, someone else's file: refused, not retried).
   */
  writerFor(owner: Owner, id: string, spec: DaemonSpec): LogWriter | { error: string } {
    const path = DaemonLogs.pathOf(owner, spec);
    const options = this.optionsFor(spec);
    const existing = this.writers.get(id);
    if (existing && existing.path === path && existing.options === JSON.stringify(options))
      return existing.writer;
    existing?.writer.close();
    this.writers.delete(id);
    let firstError: string | undefined;
    const writer = new LogWriter(options, {
      open: () => {
        let opened = asUser(owner.account, owner.groupIds, () => openLog(path, owner.account.uid));
        if ('error' in opened && opened.error.includes('ENOENT')) {
          createOwnerDirs(owner);
          opened = asUser(owner.account, owner.groupIds, () => openLog(path, owner.account.uid));
        }
        return opened;
      },
      rotate: (keep) => asUser(owner.account, owner.groupIds, () => rotateLogFiles(path, keep)),
      warn: (message) => {
        firstError ??= message;
        this.log.warn(`${id}: log: ${message}`);
      },
    });
    if (firstError !== undefined) {
      writer.close();
      return { error: firstError };
    }
    this.writers.set(id, { writer, path, options: JSON.stringify(options) });
    return writer;
  }

  /** Stops reading the pipes (an upgrade): resolves once what was read is on disk. */
  async quiesce(): Promise<void> {
    const writers = [...this.writers.values()];
    for (const { writer } of writers) writer.pause();
    await Promise.all(writers.map(({ writer }) => writer.idle()));
  }

  /**
   * Writes what the paused pipes still hold in memory and closes this process's ends, in
   * one go, with no turn of the event loop in between: every byte is then either in a log
   * or still in its pipe, where the keeper keeps it for the next manager.
   */
  letGo(): void {
    for (const { writer } of this.writers.values()) writer.drainAndClose();
  }

  /** Waits (at most `timeoutMs`) until the stopped daemons' last output is in their logs. */
  async flush(timeoutMs: number): Promise<void> {
    const all = Promise.all([...this.writers.values()].map(({ writer }) => writer.finished()));
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  /** Reading goes on after a failed upgrade. */
  resume(): void {
    for (const { writer } of this.writers.values()) writer.resume();
  }

  /** Reopens every log (after an external logrotate moved them). */
  reopenAll(): void {
    for (const { writer } of this.writers.values()) writer.reopen();
  }

  close(id: string): void {
    this.writers.get(id)?.writer.close();
    this.writers.delete(id);
  }

  /** The admin's settings bound what a daemon's config may ask for. */
  private optionsFor(spec: DaemonSpec): LogOptions {
    const adminMax = this.settings.logMaxBytes;
    const asked = spec.logMaxBytes;
    const maxBytes =
      asked === undefined || asked === 0
        ? adminMax
        : adminMax === 0
          ? asked
          : Math.min(asked, adminMax);
    return {
      maxBytes,
      keep: Math.min(spec.logKeep ?? this.settings.logKeep, this.settings.logKeep),
      timestamps: spec.logTimestamps,
    };
  }
}
