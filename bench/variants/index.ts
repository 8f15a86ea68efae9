import { baselineVariant } from './baseline.js';
import { expressSessionVariant } from './express-session.js';
import { ironSessionVariant } from './iron-session.js';
import { roundTripsOnlyVariant } from './round-trips-only.js';
import { trpcSessionMemoryVariant, trpcSessionRedisVariant } from './trpc-session.js';
import type { Variant, VariantOptions } from './variant.js';

export type VariantName =
  | 'no session'
  | 'no session again (A/A)'
  | 'trpc-session redis'
  | 'trpc-session memory'
  | 'express-session + connect-redis'
  | 'iron-session'
  | 'Redis round trips only (floor)';

interface VariantEntry {
  /** Needs Express middleware, so runs on the Express adapter only. */
  expressOnly: boolean;
  build(options: VariantOptions): Variant | Promise<Variant>;
}

/** Every session variant the benchmark compares, by the name the report uses. */
export const VARIANTS: Record<VariantName, VariantEntry> = {
  'no session': { expressOnly: false, build: () => baselineVariant() },
  // The baseline's code in a process of its own, measured as the variants are: how far from 1 noise alone goes.
  'no session again (A/A)': { expressOnly: false, build: () => baselineVariant() },
  'trpc-session redis': { expressOnly: false, build: (options) => trpcSessionRedisVariant(options) },
  'trpc-session memory': { expressOnly: false, build: () => trpcSessionMemoryVariant() },
  'express-session + connect-redis': { expressOnly: true, build: (options) => expressSessionVariant(options) },
  'iron-session': { expressOnly: false, build: () => ironSessionVariant() },
  'Redis round trips only (floor)': { expressOnly: false, build: (options) => roundTripsOnlyVariant(options) },
};

export const BASELINE: VariantName = 'no session';

/** The baseline's code again, as a variant: the A/A control the report measures noise by. */
export const CONTROL: VariantName = 'no session again (A/A)';

/** The Redis round trips alone, with no session logic: what no Redis-backed session can beat. */
export const FLOOR: VariantName = 'Redis round trips only (floor)';
