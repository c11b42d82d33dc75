import packageJson from '../package.json' with { type: 'json' };

/** The version of daemon-manager, from package.json (bundled into dist/ at build time). */
export const VERSION: string = packageJson.version;
