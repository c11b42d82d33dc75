import { createHash } from 'node:crypto';

/**
 * The SHA-256 (hex) of a config's text: `dmctl edit` sends it with `save-config` as the
 * text it began from, and the manager replaces the file only if it still has that text.
 */
export function configHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
