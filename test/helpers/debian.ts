import { ensureDebPackages } from '../../bench/peers/install.ts';

/**
 * Tools some tests drive (zsh, fish, groff, systemd-analyze, promtool, nginx and php-cgi): installed from
 * Debian when missing, so that `npm test` on a fresh machine needs nothing by hand.
 */
export const TOOLS = {
  zsh: ['zsh'],
  fish: ['fish'],
  groff: ['groff-base'],
  'systemd-analyze': ['systemd'],
  promtool: ['prometheus'],
  script: ['bsdutils'],
  man: ['man-db'],
  setfacl: ['acl'],
  nginx: ['nginx'],
  'php-cgi': ['php-cgi'],
} as const;

/** Makes sure `command` exists, installing its Debian package if it does not. */
export function ensureTool(command: keyof typeof TOOLS): void {
  ensureDebPackages(TOOLS[command], command);
}
