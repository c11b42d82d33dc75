import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DaemonSpec, SPEC_DEFAULTS } from '../config/daemon.ts';
import type { LoadedConfig } from '../daemon/scan.ts';
import type { Logger } from '../logging/logger.ts';
import { writeAtomicallyAsync } from './atomic-write.ts';

const DIR = 'configs';

/**
 * Whose writes may be made at once, and what they cost: the bytes a start's copy writes
 * are taken from the rescan budget of the daemon's owner (daemon/rescan-budget.ts), as
 * those of their rescans are.
 */
export interface CopyBudget {
  allows(user: string): boolean;
  charge(user: string, bytes: number): void;
}
/** How soon a write that failed (a full disk) is tried again, until one is made. */
const RETRY_MS = 1000;
/**
 * The most one user's copies take in the state directory. A thousand ordinary configs take
 * about 0.5 MiB; a value of control characters takes six bytes a character in JSON, and one
 * user's 3.8 MB of files made a 24 MB file of root's, which filled a small `state-dir` and
 * kept another user's `stop` from being saved (an outside review, 48b, F1).
 */
export const MAX_COPIES_BYTES = 2 * 1024 * 1024;
/**
 * How often a user's starts that read a changed file again write their copies once that
 * user's rescan budget is spent: each wrote the user's whole file (1.6 MB in a review),
 * outside every budget, and one user's loop of edits and starts made the manager write
 * 230-520 MiB a minute (an outside review, 49a, F2). The starts between are written
 * together at the end of the interval. Within the budget a start's copy is written before
 * its run begins (see replace).
 */
export const REPLACE_EVERY_MS = 10_000;

/**
 * Each user's daemon configs as last read whole, in `state-dir/configs/USER.json` (root's
 * only): a manager that starts while a user's directory cannot be read (a home not mounted
 * yet, its mode being fixed) takes that user's running daemons over with them, as a SIGHUP
 * at such a moment would have left them, instead of stopping them as if no config claimed
 * them (an outside review, 19c). Written only when what a user's files say changed; what
 * is policy (who may run as whom, ports) is judged again on what is read back.
 */
export class ConfigCopies {
  private readonly dir: string;
  private readonly log: Logger;
  /** By user: a digest of what was last written, so that an unchanged rescan writes nothing. */
  private readonly written = new Map<string, string>();
  /** By user: the write under way; the next waits for it. */
  private readonly writing = new Map<string, Promise<void>>();
  /** By user: what the last write that failed was to write (see `retryLater`). */
  private readonly unwritten = new Map<string, string>();
  /** Users whose copies are past MAX_COPIES_BYTES, and so not kept (said once). */
  private readonly tooBig = new Set<string>();
  /** By user: the configs starts read again, waiting for their write (see REPLACE_EVERY_MS). */
  private readonly replacing = new Map<
    string,
    {
      uid: number;
      configs: Map<string, LoadedConfig>;
      timer?: NodeJS.Timeout | undefined;
      lastAt: number;
    }
  >();
  /** By user: the uid and a digest of each config's source as written last (or being written). */
  private readonly sources = new Map<string, { uid: number; byName: Map<string, string> }>();
  private readonly replaceEveryMs: number;
  private readonly budget: CopyBudget | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  /** Without a budget, every start's copy waits for the interval. */
  constructor(
    stateDir: string,
    log: Logger,
    options: { replaceEveryMs?: number; budget?: CopyBudget } = {},
  ) {
    this.dir = join(stateDir, DIR);
    this.log = log;
    this.replaceEveryMs = options.replaceEveryMs ?? REPLACE_EVERY_MS;
    this.budget = options.budget;
  }

  /**
   * Keeps what a complete reading of a user's directory found (the account's uid `uid`);
   * returns how many bytes that writes (0 when nothing changed), for the rescan budget of
   * whoever asked: what one user's rescans make the manager write is bounded as what they
   * make it read is.
   */
  keep(user: string, uid: number, configs: readonly LoadedConfig[]): number {
    const kept = configs.filter(
      (config) => config.spec !== undefined && config.source !== undefined,
    );
    // A complete reading has the files as they are: what starts read before is in it.
    const pending = this.replacing.get(user);
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.replacing.set(user, { uid, configs: new Map(), lastAt: pending.lastAt });
    }
    const digest = digestOf(kept);
    if (this.written.get(user) === digest) return 0;
    this.written.set(user, digest);
    this.noteSources(user, uid, kept);
    const text = JSON.stringify({ uid, configs: kept });
    const previous = this.writing.get(user) ?? Promise.resolve();
    const next = previous.then(async () => {
      await this.write(user, text);
    });
    this.writing.set(user, next);
    void next.then(() => {
      if (this.writing.get(user) === next) this.writing.delete(user);
    });
    return text.length;
  }

  /**
   * Keeps one daemon's config as read alone (a start that read its changed file again):
   * the copies went stale until the next rescan, and a takeover while the directory could
   * not be read went on with the config from before (an outside review, 20c: its log
   * lines dropped as output=discard). Written at once while the owner's budget allows,
   * and resolves once written, so that the run the start begins is never newer than the
   * copy: written only every REPLACE_EVERY_MS, a `kill -9` of the manager within 10 s of a
   * restart that applied a changed file, with the directory unreadable at the takeover,
   * made the manager respawn the config the user had replaced (an outside review, 50a,
   * F3). Past the budget, resolves at once and the write waits for the interval.
   */
  replace(user: string, uid: number, config: LoadedConfig): Promise<void> {
    if (config.spec === undefined || config.source === undefined) return Promise.resolve();
    // Kept already as it is (a start of an unchanged file), or not kept at all (too big).
    const kept = this.sources.get(user);
    if (kept?.uid === uid && kept.byName.get(config.name) === sourceDigest(config.source))
      return Promise.resolve();
    if (this.tooBig.has(user)) return Promise.resolve();
    const now = Date.now();
    const pending = this.replacing.get(user);
    const batch =
      pending?.uid === uid
        ? pending
        : { uid, configs: new Map<string, LoadedConfig>(), lastAt: pending?.lastAt ?? 0 };
    this.replacing.set(user, batch);
    batch.configs.set(config.name, config);
    if (this.budget?.allows(user)) {
      clearTimeout(batch.timer);
      batch.timer = undefined;
      return this.writeReplaced(user);
    }
    if (batch.timer !== undefined) return Promise.resolve();
    const wait = batch.lastAt + this.replaceEveryMs - now;
    if (wait <= 0) void this.writeReplaced(user);
    else {
      batch.timer = setTimeout(() => void this.writeReplaced(user), wait);
      batch.timer.unref();
    }
    return Promise.resolve();
  }

  /** Writes what starts read again since the last such write (see replace). */
  private writeReplaced(user: string): Promise<void> {
    const batch = this.replacing.get(user);
    if (batch === undefined) return Promise.resolve();
    const configs = [...batch.configs.values()];
    const { uid } = batch;
    this.replacing.set(user, { uid, configs: new Map(), lastAt: Date.now() });
    if (configs.length === 0) return Promise.resolve();
    const names = new Set(configs.map((config) => config.name));
    const previous = this.writing.get(user) ?? Promise.resolve();
    const next = previous.then(async () => {
      const kept = (await this.read(user, uid)).filter((copy) => !names.has(copy.name));
      kept.push(...configs);
      this.written.set(user, digestOf(kept));
      this.noteSources(user, uid, kept);
      const text = JSON.stringify({ uid, configs: kept });
      if (await this.write(user, text)) this.budget?.charge(user, text.length);
    });
    this.writing.set(user, next);
    void next.then(() => {
      if (this.writing.get(user) === next) this.writing.delete(user);
    });
    return next;
  }

  private noteSources(user: string, uid: number, kept: readonly LoadedConfig[]): void {
    this.sources.set(user, {
      uid,
      byName: new Map(kept.map((config) => [config.name, sourceDigest(config.source ?? '')])),
    });
  }

  /** Resolves once every write asked for so far is done, those starts wait for included. */
  async settled(): Promise<void> {
    for (const [user, batch] of this.replacing)
      if (batch.timer !== undefined) {
        clearTimeout(batch.timer);
        void this.writeReplaced(user);
      }
    await Promise.all(this.writing.values());
  }

  /**
   * The configs last kept for a user; none if there are none or they cannot be read, or
   * if they are another account's (of the same name before: someone else).
   */
  async read(user: string, uid: number): Promise<LoadedConfig[]> {
    let text: string;
    try {
      text = await readFile(this.pathOf(user), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn(`cannot read ${this.pathOf(user)}: ${(error as Error).message}`);
      return [];
    }
    try {
      const parsed = JSON.parse(text) as { uid?: unknown; configs?: unknown } | null;
      if (typeof parsed?.uid !== 'number' || !Array.isArray(parsed.configs))
        throw new Error('not a uid and a list of configs');
      if (parsed.uid !== uid) return [];
      return parsed.configs.filter(isLoaded).map((config) => ({
        ...config,
        // Written by an earlier version, it lacks the keys added since: they have their defaults.
        spec: { ...SPEC_DEFAULTS, ...config.spec },
      }));
    } catch (error) {
      this.log.warn(`${this.pathOf(user)} cannot be used: ${(error as Error).message}`);
      return [];
    }
  }

  /** Removes the copies of users who may no longer run daemons. */
  keepOnly(users: ReadonlySet<string>): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      // A temporary file is a write under way (or cut by a crash, written over next time).
      if (!name.endsWith('.json')) continue;
      const user = decodeURIComponent(name.slice(0, -5));
      if (users.has(user)) continue;
      rmSync(join(this.dir, name), { force: true });
      this.written.delete(user);
      this.unwritten.delete(user);
      this.sources.delete(user);
    }
  }

  /** Writes a user's copies; true if written (not past the bound, nor failed). */
  private async write(user: string, text: string): Promise<boolean> {
    const failing = this.unwritten.has(user);
    this.unwritten.delete(user);
    // Past the bound, none is kept: an older copy left in place would be taken for what
    // the files say at a takeover.
    if (Buffer.byteLength(text) > MAX_COPIES_BYTES) {
      if (!this.tooBig.has(user))
        this.log.warn(
          `${user}'s daemon configs are not kept in ${this.dir}: as kept they would take ${mib(Buffer.byteLength(text))} MiB, more than the ${mib(MAX_COPIES_BYTES)} MiB kept of one user (a manager started while their directory cannot be read stops their daemons, as if no file claimed them)`,
        );
      this.tooBig.add(user);
      rmSync(this.pathOf(user), { force: true });
      return false;
    }
    if (this.tooBig.delete(user)) this.log.info(`${user}'s daemon configs are kept again`);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      await writeAtomicallyAsync(this.pathOf(user), text);
      if (failing) this.log.info(`${this.pathOf(user)} written again`);
      return true;
    } catch (error) {
      this.written.delete(user);
      this.sources.delete(user);
      // Said once while it fails; tried again each second, as the state is.
      if (!failing) this.log.warn(`cannot write ${this.pathOf(user)}: ${(error as Error).message}`);
      if (!this.unwritten.has(user)) this.unwritten.set(user, text);
      this.retryLater();
      return false;
    }
  }

  /**
   * Writes that failed are tried again each second until one is made. Tried again only at
   * the next rescan, the copies stayed stale once room was made, and a takeover with the
   * user's directory unreadable respawned a config its owner had replaced (an outside
   * review, 32b, F1). A newer write for the user takes the place of an older one.
   */
  private retryLater(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      for (const [user, text] of this.unwritten) {
        const previous = this.writing.get(user) ?? Promise.resolve();
        const next = previous.then(async () => {
          if (this.unwritten.get(user) === text) await this.write(user, text);
        });
        this.writing.set(user, next);
        void next.then(() => {
          if (this.writing.get(user) === next) this.writing.delete(user);
        });
      }
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  private pathOf(user: string): string {
    return join(this.dir, `${encodeURIComponent(user)}.json`);
  }
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function sourceDigest(source: string): string {
  return createHash('sha256').update(source).digest('base64');
}

/** What a user's kept configs say, in short: the same for the same files. */
function digestOf(configs: readonly LoadedConfig[]): string {
  return createHash('sha256')
    .update(
      [...configs]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((config) => `${config.name}\0${config.source}`)
        .join('\n'),
    )
    .digest('base64');
}

function isLoaded(value: unknown): value is LoadedConfig & { readonly spec: DaemonSpec } {
  const config = value as Record<string, unknown> | null;
  if (typeof config !== 'object' || config === null) return false;
  const spec = config.spec as Record<string, unknown> | null;
  return (
    typeof config.name === 'string' &&
    typeof config.file === 'string' &&
    typeof config.source === 'string' &&
    Array.isArray(config.problems) &&
    typeof spec === 'object' &&
    spec !== null &&
    spec.name === config.name &&
    typeof spec.start === 'string'
  );
}
