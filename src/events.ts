import { SessionEventHookError, type SessionError } from './errors.js';
import { sessionRef } from './id.js';

/** What happened to a session, as `onEvent` hears of it. */
export type SessionEventType = 'created' | 'regenerated' | 'destroyed' | 'revoked' | 'expired';

/**
 * Why a session was revoked (the method that ended it, or `'maxSessionsPerUser'`: a login of its user past
 * that many sessions), or which timeout ended a session found expired on load (`'idle'`: unused for its
 * lifespan; `'absolute'`: past `absoluteLifetime`).
 */
export type SessionEventReason = 'revokeUser' | 'revokeSession' | 'revokeOtherSessions' | 'maxSessionsPerUser' | 'idle' | 'absolute';

/**
 * One event in a session's life, for an audit log. It names the session by its `ref` (never its ID) and
 * carries none of its data.
 */
export interface SessionEvent {
  type: SessionEventType;
  /** The session's `ref` (its new one, for `'regenerated'`): safe to log and to show, no help in finding the ID. */
  ref: string;
  /** For `'regenerated'`: the `ref` the session had before. */
  previousRef?: string;
  /** The user the session is bound to (`bindUser`), or `null`. */
  userId: string | null;
  /** For `'revoked'` and `'expired'`: see {@link SessionEventReason}. */
  reason?: SessionEventReason;
  at: Date;
}

/** Extra facts of an event, besides the session it is about. */
export interface SessionEventDetails {
  reason?: SessionEventReason;
  /** For `'regenerated'`: the session's ID before the move, turned into `previousRef` here. */
  previousId?: string;
}

/**
 * Sends events to the `onEvent` hook: builds each from the session's ID (as its `ref`, so the hook never sees
 * the ID), and hands what the hook throws or rejects with to `report`, so an audit log that fails never fails
 * a request.
 */
export function eventEmitter(
  onEvent: ((event: SessionEvent) => void | Promise<void>) | undefined,
  report: (error: SessionError) => void,
): (type: SessionEventType, id: string, userId: string | null, details?: SessionEventDetails) => void {
  if (onEvent === undefined) return () => undefined;
  return (type, id, userId, details = {}) => {
    const event: SessionEvent = { type, ref: sessionRef(id), userId, at: new Date() };
    if (details.previousId !== undefined) event.previousRef = sessionRef(details.previousId);
    if (details.reason !== undefined) event.reason = details.reason;
    const failed = (error: unknown) => report(new SessionEventHookError(type, error));
    try {
      const returned = onEvent(event);
      if (returned !== undefined) Promise.resolve(returned).catch(failed);
    } catch (error) {
      failed(error);
    }
  };
}
