/** How long sessions live: the expiry policy, which the session core applies and the stores never see. Times are ms. */
export interface ExpiryPolicy {
  /** Idle timeout: a record unused this long expires. */
  idleMs: number;
  /** Absolute timeout from creation, whatever the activity; `null` for none. */
  absoluteMs: number | null;
  /** A load refreshes the expiry only when doing so would extend it by at least this much. */
  touchAfterMs: number;
}

/**
 * The milliseconds a record of the given age may still live: the idle timeout, capped by what remains of
 * the absolute lifetime (zero or less: expired).
 */
export function remainingLifetime(policy: Pick<ExpiryPolicy, 'idleMs' | 'absoluteMs'>, createdAt: number, now: number): number {
  if (policy.absoluteMs === null) return policy.idleMs;
  return Math.min(policy.idleMs, createdAt + policy.absoluteMs - now);
}

/**
 * What a load makes of a record's expiry: `'ended'` once its lifetime is over (the record is to be removed);
 * `'expired'` when its expiry has passed (the store is about to drop it); otherwise the lifetime to refresh it
 * to when a refresh is due (it would extend the expiry by `touchAfterMs` or more, or `expiresAt` is unknown:
 * NaN), else null.
 */
export function expiryAtLoad(policy: ExpiryPolicy, createdAt: number, expiresAt: number, now: number): 'ended' | 'expired' | { refreshTo: number | null } {
  const remaining = remainingLifetime(policy, createdAt, now);
  if (remaining <= 0) return 'ended';
  const ttlMs = expiresAt - now;
  if (ttlMs <= 0) return 'expired';
  return { refreshTo: Number.isNaN(ttlMs) || remaining - ttlMs >= policy.touchAfterMs ? remaining : null };
}

/** Which timeout ended a record whose lifetime is over at `now`: the absolute one once it has passed, else idle. */
export function endedBy(policy: Pick<ExpiryPolicy, 'absoluteMs'>, createdAt: number, now: number): 'idle' | 'absolute' {
  return policy.absoluteMs !== null && createdAt + policy.absoluteMs <= now ? 'absolute' : 'idle';
}
