/**
 * One documented thing: a config key, an option, a command, a signal. `meaning` is plain
 * text in which only `code spans` are marked; the README tables, the man pages and
 * `--help` are all rendered from these entries, so they cannot disagree.
 */
export interface Entry {
  /** As a person types it: `stop-timeout`, `start`, `dmctl ID stop`, `-c, --config FILE`. */
  readonly name: string;
  /** The default, as written in a config file, or a word such as `unset`. */
  readonly default?: string;
  readonly meaning: string;
}
