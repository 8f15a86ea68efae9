import { TRPCError } from '@trpc/server';

type TRPCErrorCode = ConstructorParameters<typeof TRPCError>[0]['code'];

/**
 * Where each error class of this package keeps its name, on its prototype: a registered symbol, so that
 * `instanceof` recognises an error made by another copy of the package (Next.js bundles one into each route,
 * and loads another from node_modules for Pages routes). A literal, as a minifier renames classes.
 */
const CLASS_NAME = Symbol.for('trpc-session.error-class');

type Branded = { [CLASS_NAME]?: string };

/** Names a class of this package, for its instances' `name` and for `instanceof` across copies. */
function brand(errorClass: { prototype: object }, name: string): void {
  Object.defineProperty(errorClass.prototype, CLASS_NAME, { value: name });
}

/**
 * Base class of every error trpc-session throws or reports. It is a `TRPCError`, so a procedure that lets it
 * escape answers with the error's `code`. Messages never contain session data or a full session ID.
 */
export class SessionError extends TRPCError {
  static {
    brand(this, 'SessionError');
  }

  constructor(code: TRPCErrorCode, message: string, cause?: unknown) {
    super({ code, message, cause });
    // A class of this package names itself with a literal (a minifier renames classes); a subclass of yours, as before.
    this.name = Object.hasOwn(new.target.prototype, CLASS_NAME) ? (this as Branded)[CLASS_NAME]! : new.target.name;
  }

  /** Also true of an instance of the same class from another copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    // A class of yours recognises its own instances only.
    if (!Object.hasOwn(this.prototype, CLASS_NAME)) return false;
    const name = (this.prototype as Branded)[CLASS_NAME];
    for (let proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : null; proto !== null; proto = Object.getPrototypeOf(proto)) {
      if (Object.hasOwn(proto, CLASS_NAME) && (proto as Branded)[CLASS_NAME] === name) return true;
    }
    return false;
  }
}

/**
 * Thrown by `put`, `update` or `flash.set` of a value that does not match its field's schema, or of a field
 * the schema does not have. The session is unchanged. A procedure that lets it escape answers `INTERNAL_SERVER_ERROR` (500): the value
 * came from the server's code (a client's input is checked by the procedure's `.input()`). The message names
 * the field and the schema's complaints by zod issue code and path, never the value.
 */
export class SessionValidationError extends SessionError {
  static {
    brand(this, 'SessionValidationError');
  }

  constructor(
    /** The session field that was being written. */
    readonly field: string,
    /** A readable summary of the schema's complaints. */
    readonly issues: string,
  ) {
    super('INTERNAL_SERVER_ERROR', `Session field "${field}" is invalid: ${issues}`);
  }
}

/**
 * A value cannot be stored, because msgpackr cannot encode it so that it reads back as itself (a function, a
 * symbol, a class instance, a cycle), or it nests or branches past the limits of `put`. Thrown by `put`,
 * `update` or `flash.set`, or by the write of a value changed in place; the session is unchanged. A procedure
 * that lets it escape answers `INTERNAL_SERVER_ERROR` (500), the message naming the field, where in the value
 * and why.
 */
export class SessionSerializationError extends SessionError {
  static {
    brand(this, 'SessionSerializationError');
  }

  constructor(
    readonly field: string,
    /** Where in the value the offending part is, as `field.path[0]`. */
    readonly path: string,
    readonly reason: string,
  ) {
    super('INTERNAL_SERVER_ERROR', `Session field "${field}" cannot be stored: ${reason} at ${path}`);
  }
}

/**
 * The encoded session would be larger than `maxSize`. Thrown by the `put` or `flash.set` that would take it
 * over, or by a write (`persist()`, `update()`, a write before the response) that concurrent writes took over;
 * nothing was written. A procedure that lets it escape answers `PAYLOAD_TOO_LARGE` (413); a write after the
 * response (the default `persist` mode) goes to `onError` instead.
 */
export class SessionTooLargeError extends SessionError {
  static {
    brand(this, 'SessionTooLargeError');
  }

  constructor(
    readonly size: number,
    readonly limit: number,
    readonly session: string,
  ) {
    super('PAYLOAD_TOO_LARGE', `Session ${session} is ${size} bytes encoded, over the limit of ${limit} bytes; nothing was written`);
  }
}

/**
 * The session store did not answer in time or failed: thrown by any session operation that needed it, within
 * `commandTimeout`. The server recovers when the store does. A procedure that lets it escape answers
 * `INTERNAL_SERVER_ERROR` (500); its message is only `Session store unavailable`, as tRPC sends a message to
 * the client: where the store is and why it failed are in {@link SessionStoreUnavailableError.reason} and
 * `cause`, for `onError` and the logs. Each Redis outage is also reported to `onError` once, when it begins;
 * its end is reported as a {@link SessionStoreRecoveredError}.
 */
export class SessionStoreUnavailableError extends SessionError {
  static {
    brand(this, 'SessionStoreUnavailableError');
  }

  /** Why and where, as `connection refused (10.0.0.5:6379)` or `no answer within 1000 ms (10.0.0.5:6379)`. Never sent to clients. */
  readonly reason: string;

  /** `cause`: what the store's client threw, which a store passes through its redaction (name, message and code only). */
  constructor(reason: string, cause?: Error) {
    super('INTERNAL_SERVER_ERROR', 'Session store unavailable', cause);
    this.reason = redactIds(reason);
  }
}

/** Anything shaped like a session ID (32 or more base64url characters) in a driver's message. */
const ID_LIKE = /[A-Za-z0-9_-]{32,}/g;

/** A message with every ID-like run shortened as `redactSessionId` would, for text the library did not write. */
export function redactIds(text: string): string {
  return text.replace(ID_LIKE, (id) => `${id.slice(0, 6)}…`);
}

/**
 * What a store driver threw, kept as a `cause` that carries nothing but its kind and message: ioredis puts the
 * command on its errors (`command.args`: the key, which holds the session ID, and the values written), which
 * any logger that follows `cause` would record. Its own `cause`, if any, is redacted the same way.
 */
export function redactedCause(error: unknown, depth = 0): Error {
  const message = error instanceof Error ? error.message : String(error);
  const inner = error instanceof Error && error.cause !== undefined && depth < 4 ? redactedCause(error.cause, depth + 1) : undefined;
  const redacted = new Error(redactIds(message), inner === undefined ? undefined : { cause: inner });
  redacted.name = error instanceof Error ? error.name : 'Error';
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' || typeof code === 'number') Object.assign(redacted, { code });
  return redacted;
}

/**
 * What the app's own code threw (a migration, a schema check), kept as a `cause` that carries its kind and
 * where it was thrown, but not its message or properties: those may quote the session's data (`JSON.parse`
 * quotes the text it failed on, `new URL` keeps it as `input`). Its own `cause`, if any, is kept the same way.
 */
export function withheldCause(error: unknown, depth = 0): Error {
  // Read defensively: what the app threw may have getters that throw.
  const read = <T>(get: () => T): T | undefined => {
    try {
      return get();
    } catch {
      return undefined;
    }
  };
  const isError = error instanceof Error;
  const cause = isError && depth < 4 ? read(() => error.cause) : undefined;
  const inner = cause === undefined ? undefined : withheldCause(cause, depth + 1);
  const withheld = new Error('(message withheld: it may quote session data)', inner === undefined ? undefined : { cause: inner });
  const name = isError ? read(() => error.name) : undefined;
  withheld.name = typeof name === 'string' && /^[\w$.]{1,64}$/.test(name) ? name : 'Error';
  // The frames only: the stack's first lines repeat the message.
  const stack = isError ? read(() => error.stack) : undefined;
  const frames = typeof stack === 'string' ? stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
  withheld.stack = [`${withheld.name}: ${withheld.message}`, ...frames].join('\n');
  return withheld;
}

/**
 * Reported through `onError`, never thrown: Redis answers again after an outage that was reported as a
 * `SessionStoreUnavailableError`. One report per outage.
 */
export class SessionStoreRecoveredError extends SessionError {
  static {
    brand(this, 'SessionStoreRecoveredError');
  }

  constructor(
    /** The server that was unreachable (`host:port`; on a Cluster, the master whose slots failed). */
    readonly address: string,
    /** How long the outage lasted, from its first failure to the first answer, in milliseconds. */
    readonly downMs: number,
  ) {
    super('INTERNAL_SERVER_ERROR', `Session store available again (${address}) after ${(downMs / 1000).toFixed(1)} s`);
  }
}

/**
 * Thrown by a session operation that cannot be done in this context: there is no HTTP request (a server-side
 * caller), or the response's headers are already gone (streaming, WebSocket), so no cookie can be set; or the
 * procedure needs `sessions.procedure` and is not built on it, or its context has no session handle (spread
 * `sessions.createContext(opts)` into it). The message says which, and what to do. Its code is
 * `PRECONDITION_FAILED` (412), not a server error: retrying cannot help (and `httpSubscriptionLink` retries
 * server errors forever), routing the call differently can.
 */
export class SessionUnavailableError extends SessionError {
  static {
    brand(this, 'SessionUnavailableError');
  }

  constructor(reason: string) {
    super('PRECONDITION_FAILED', reason);
  }
}

/**
 * The session's record was removed (destroyed, regenerated, revoked or expired) after this request loaded it,
 * so this request's write was dropped rather than bringing the session back. Thrown by the write
 * (`persist()`, `update()`, a write before the response), by `start()`, `regenerate()` or `destroy()` with
 * the cookie of a session another request has just moved, and by a change after this request's own
 * `destroy()`. A procedure that lets it escape answers `CONFLICT`
 * (409); a write after the response (the default `persist` mode) goes to `onError` instead.
 */
export class SessionGoneError extends SessionError {
  static {
    brand(this, 'SessionGoneError');
  }

  constructor(readonly session: string) {
    super('CONFLICT', `Session ${session} was destroyed, moved to a new ID or expired by another request; this request's changes were dropped`);
  }
}

/**
 * Thrown by `update` (or a flash value's `take`) that kept losing races for the same field and gave up.
 * Nothing was written. A procedure that lets it escape answers `CONFLICT` (409): the call may be retried.
 */
export class SessionConflictError extends SessionError {
  static {
    brand(this, 'SessionConflictError');
  }

  constructor(
    readonly field: string,
    readonly attempts: number,
  ) {
    super('CONFLICT', `Session field "${field}" changed concurrently ${attempts} times in a row; update gave up`);
  }
}

/**
 * A server of an older schema version tried to change a session that a newer one has already written (a rolling
 * deploy): its fields are no longer what this server's schema describes, and writing them, or stamping the older
 * version over the newer one's, would make the newer servers migrate the record again and lose data. Nothing was
 * written. Thrown by the write, `data.update()` or `regenerate()`; a procedure that lets it escape answers
 * `CONFLICT` (409), as for a session another request changed: the call may be retried, on a newer server.
 */
export class SessionVersionError extends SessionError {
  static {
    brand(this, 'SessionVersionError');
  }

  constructor(
    readonly session: string,
    readonly storedVersion: number | undefined,
    readonly schemaVersion: number,
  ) {
    super(
      'CONFLICT',
      `Session ${session} was written by a newer schema version${storedVersion === undefined ? '' : ` (${storedVersion})`} than this server's (${schemaVersion}); this request's changes were dropped`,
    );
  }
}

/**
 * Reported through `onError`, never thrown: the key a cookie names could not be read as a session. A record
 * of this library's whose metadata is broken was removed; a key that is not recognisably one of its records
 * (another Redis type, a hash with fields of other names: the prefix is shared with other data) was left
 * alone. Either way the request had no session from it, and `start()` gives a fresh one.
 */
export class SessionCorruptError extends SessionError {
  static {
    brand(this, 'SessionCorruptError');
  }

  constructor(
    readonly session: string,
    /** What was wrong, and whether the record was removed or the key left alone. Never the key's content. */
    readonly reason: string,
  ) {
    super('INTERNAL_SERVER_ERROR', `Session ${session} could not be read: ${reason}`);
  }
}

/**
 * Reported through `onError`, never thrown: a stored field could not be decoded, or no longer matches the
 * schema (a deploy changed it). Fields are decoded when first read, so this comes from the first read of the
 * field (a field the schema no longer has: from the load). The field was dropped; the rest of the session
 * was kept.
 */
export class SessionFieldDroppedError extends SessionError {
  static {
    brand(this, 'SessionFieldDroppedError');
  }

  /** The field's name; `…` for a name no schema would have (a field found in the record, not in the schema), which may be data. */
  readonly field: string;

  constructor(
    readonly session: string,
    field: string,
    reason: string,
  ) {
    const shown = /^[\w$-]{1,64}$/.test(field) ? field : '…';
    super('INTERNAL_SERVER_ERROR', `Session ${session}: stored field "${shown}" was dropped: ${reason}`);
    this.field = shown;
  }
}

/**
 * A schema migration (`migrations`) failed on a record written by an older `schemaVersion`: it threw, or
 * returned what a session cannot hold. Thrown by the `start()` or `load()` that read the record (so the call
 * fails with `INTERNAL_SERVER_ERROR`, 500), or by a `regenerate()` or write that read it again, and reported to
 * `onError`. Nothing was written: the record is left as it was, and a fixed migration reads it again.
 */
export class SessionMigrationError extends SessionError {
  static {
    brand(this, 'SessionMigrationError');
  }

  constructor(
    readonly session: string,
    /** The `schemaVersion` the record was written with. */
    readonly fromVersion: number,
    /** The version whose migration failed. */
    readonly version: number,
    reason: string,
    /** What the migration threw: its class and stack frames, its message withheld (it may quote the record). */
    cause?: Error,
  ) {
    super(
      'INTERNAL_SERVER_ERROR',
      `Session ${session}: the migration to schema version ${version} of a record written by version ${fromVersion} failed: ${reason}; the record was left as it was`,
      cause,
    );
  }
}

/**
 * Reported through `onError`, never thrown: the `onEvent` hook threw or rejected. The request it came from
 * went on as if the hook had succeeded. `cause` is what the hook threw.
 */
export class SessionEventHookError extends SessionError {
  static {
    brand(this, 'SessionEventHookError');
  }

  constructor(
    /** The type of the event the hook failed on. */
    readonly eventType: string,
    cause: unknown,
  ) {
    super('INTERNAL_SERVER_ERROR', `The onEvent hook failed on a '${eventType}' event`, cause);
  }
}

/**
 * A request from another origin tried to change the session (write, regenerate or destroy it): its `Origin`
 * (or, without one, `Sec-Fetch-Site: cross-site`) is neither the server's own origin nor one of
 * `trustedOrigins`. Thrown by the change (`put`, `delete`, `update`, `flash.set`, `bindUser`, the write of a value
 * changed in place), `regenerate()` or `destroy()`; a procedure that lets it escape answers
 * `FORBIDDEN` (403); nothing was changed. This is the defence against cross-site request forgery: a form on
 * another site can make the browser send the session cookie, but not change the session.
 */
export class SessionForbiddenError extends SessionError {
  static {
    brand(this, 'SessionForbiddenError');
  }

  constructor(reason: string) {
    super('FORBIDDEN', reason);
  }
}
