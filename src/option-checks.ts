import { assertSessionStore } from './stores/store.js';

const shown = (value: unknown) => (typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value)));

/**
 * The checks of `createSessionManager`'s options that the resolution of each option does not make itself:
 * the options object, the store, and the types of the plain options. Each failure is a `TypeError` naming
 * the option, thrown at start-up.
 */
export function assertManagerOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('trpc-session: createSessionManager needs an options object');
  const given = options as Record<string, unknown>;
  assertSessionStore(given.store);
  if (given.secrets !== undefined && !Array.isArray(given.secrets)) {
    throw new TypeError('trpc-session: `secrets` must be an array of strings of at least 32 characters');
  }
  // An empty list would sign nothing while looking like it does: leave `secrets` out for unsigned cookies.
  if (Array.isArray(given.secrets) && given.secrets.length === 0) {
    throw new TypeError('trpc-session: `secrets` is empty: give at least one secret of 32 characters or more, or leave `secrets` out for unsigned cookies');
  }
  if (given.trustProxy !== undefined && typeof given.trustProxy !== 'boolean') {
    throw new TypeError(`trpc-session: \`trustProxy\` must be true or false (got ${shown(given.trustProxy)})`);
  }
  if (given.schemaVersion !== undefined && !Number.isSafeInteger(given.schemaVersion)) {
    throw new TypeError(`trpc-session: \`schemaVersion\` must be a whole number (got ${shown(given.schemaVersion)})`);
  }
  for (const name of ['onError', 'onEvent'] as const) {
    if (given[name] !== undefined && typeof given[name] !== 'function') {
      throw new TypeError(`trpc-session: \`${name}\` must be a function (got ${shown(given[name])})`);
    }
  }
  for (const name of ['absoluteLifetime', 'touchAfter', 'maxSize', 'maxSessionsPerUser', 'healthTimeout'] as const) {
    if (given[name] !== undefined && typeof given[name] !== 'number') {
      throw new TypeError(`trpc-session: \`${name}\` must be a number (got ${shown(given[name])})`);
    }
  }
}
