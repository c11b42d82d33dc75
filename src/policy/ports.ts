import type { LimitRule, PortRange } from '../config/limits.ts';
import { formatAddress, isLoopback, type ListenAddress } from '../config/listen.ts';

/** Below this port only root may bind, unless `ports=` grants it (as the kernel's own rule). */
export const FIRST_FREE_PORT = 1024;

/**
 * The ports root granted `user` in `[limits]` (`ports=`): every line naming the user or
 * one of their groups adds its ranges. Unlike the other limits, grants add up: a group's
 * port and the user's own are both theirs.
 */
export function portsForUser(
  user: string,
  isMemberOf: (group: string) => boolean,
  rules: readonly LimitRule[],
): readonly PortRange[] {
  return rules.flatMap((rule) =>
    rule.ports !== undefined &&
    ((rule.left.kind === 'user' && rule.left.name === user) ||
      (rule.left.kind === 'group' && isMemberOf(rule.left.name)))
      ? rule.ports
      : [],
  );
}

/**
 * Why `owner` may not listen on a TCP address, or undefined if they may: the loopback
 * above 1023 is everyone's; any other address, and any port below 1024, only a port
 * root granted. The manager binds TCP sockets as root, so this is the only check. Root's
 * own daemons may listen anywhere.
 */
export function tcpRefusal(
  owner: string,
  address: ListenAddress & { kind: 'tcp' },
  granted: readonly PortRange[],
): string | undefined {
  if (owner === 'root') return undefined;
  const { port } = address;
  if (granted.some((range) => range.from <= port && port <= range.to)) return undefined;
  if (isLoopback(address.host) && port >= FIRST_FREE_PORT) return undefined;
  const why =
    port < FIRST_FREE_PORT
      ? `port ${port} is below ${FIRST_FREE_PORT}`
      : `${address.host} is not the loopback (127.0.0.1 or ::1)`;
  return `'listen=${formatAddress(address)}' refused: ${why} and the master config grants '${owner}' no such port ([limits] ${owner}: ports=${port})`;
}
