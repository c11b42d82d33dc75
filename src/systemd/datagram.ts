import { createRequire } from 'node:module';
import type { SendDatagram } from '../logging/targets.ts';
import { findBuilt } from '../process/native.ts';

/** The addon's sendDatagram (native/datagram.c); the addon is loaded once, whoever asks first. */
export function loadSendDatagram(): SendDatagram {
  const addon = createRequire(import.meta.url)(findBuilt('dm_native.node')) as {
    sendDatagram: SendDatagram;
  };
  return addon.sendDatagram;
}
