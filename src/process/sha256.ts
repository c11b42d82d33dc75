import { createRequire } from 'node:module';
import { findBuilt } from './native.ts';

/**
 * The SHA-256 of a string (its UTF-8) or of bytes, by the addon (native/digest.c): the
 * manager never loads node:crypto, whose modules alone cost it 0.8 MiB of private memory
 * and 1.5 MiB of RSS for as long as it runs. The same digest as node:crypto's `sha256`.
 */
export function sha256(data: string | Uint8Array): Buffer {
  return addon().sha256(data);
}

let loaded: { sha256(data: string | Uint8Array): Buffer } | undefined;

function addon(): { sha256(data: string | Uint8Array): Buffer } {
  loaded ??= createRequire(import.meta.url)(findBuilt('dm_native.node')) as {
    sha256(data: string | Uint8Array): Buffer;
  };
  return loaded;
}
