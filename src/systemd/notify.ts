import type { SendDatagram } from '../logging/targets.ts';

/**
 * Tells systemd how the manager is doing (sd_notify(3)): `READY=1` once it runs,
 * `RELOADING=1` and `STOPPING=1` around a reload and a stop, `STATUS=` for
 * `systemctl status`. Does nothing when $NOTIFY_SOCKET is unset (not under a
 * `Type=notify` unit); a failed send is not worth more than a debug line.
 */
export function notifier(
  send: SendDatagram,
  socket: string | undefined,
  onError: (message: string) => void,
): (state: string) => void {
  if (socket === undefined || socket === '') return () => {};
  return (state) => {
    try {
      send(socket, Buffer.from(state));
    } catch (error) {
      onError(`sd_notify to ${socket}: ${(error as Error).message}`);
    }
  };
}
