import { DEFAULT_SETTINGS, type Settings } from '../config/settings.ts';
import { rotatingFileWriter } from './rotating-file.ts';

/**
 * Where the manager's own log lines go: stderr (a service manager's journal) unless a
 * file is named. The file rotates at `log-max-size` keeping `log-keep`, as the daemons'
 * logs do; with `log-max-size = 0` (logrotate does the daemons') at the default size
 * all the same, since nothing else rotates this one.
 */
export function ownLogWriter(
  file: string | undefined,
  settings: Settings,
): ((line: string) => void) | undefined {
  if (file === undefined) return undefined;
  return rotatingFileWriter(file, {
    maxBytes: settings.logMaxBytes || DEFAULT_SETTINGS.logMaxBytes,
    keep: settings.logKeep,
  });
}
