import { existsSync } from 'node:fs';
import { test } from 'vitest';

/** Debian's Chromium, which the browser tests drive through playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, and none of the background connections this machine's closed network would refuse. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Whether the browser tests run: where Chromium is, and always in CI (which installs it), where a missing
 * browser then fails them. Elsewhere they are skipped with a notice, so `npm test` stays runnable on a fresh machine.
 */
export const runBrowser = existsSync(CHROMIUM) || Boolean(process.env['CI']);

/** `test` where the browser tests run, else `test.skip` with a notice naming `what`. */
export function browserTestFor(what: string): typeof test | typeof test.skip {
  if (runBrowser) return test;
  console.warn(`Skipping ${what}: ${CHROMIUM} is missing (apt-get install chromium)`);
  return test.skip;
}
