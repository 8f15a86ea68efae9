import type { Variant } from './variant.js';

/** No session at all: the same procedures with the session work left out. */
export function baselineVariant(): Variant {
  let counter = 0;
  return {
    createContext: () => ({}),
    session: {
      read: async () => counter,
      increment: async () => ++counter,
      begin: async () => 1,
    },
    close: async () => {},
  };
}
