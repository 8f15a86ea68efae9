import { createHash, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';

/** 24 random bytes: 192 bits, above OWASP's 128-bit minimum, and 32 base64url characters without padding. */
const ID_BYTES = 24;
const ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;
const SIGNATURE_LENGTH = 43; // base64url of a SHA-256 HMAC

/**
 * Random bytes for the next 256 IDs, drawn from the CSPRNG at once: one `randomBytes(24)` per ID cost about
 * 2 µs, a third of the CPU of creating a session. Each byte is used for one ID only. Node's `randomUUID` buffers
 * its entropy the same way.
 */
const idEntropy = Buffer.alloc(ID_BYTES * 256);
let idEntropyOffset = idEntropy.length;

/** `bytes` random bytes from the buffered entropy, in base64url. */
function randomText(bytes: number): string {
  if (idEntropyOffset + bytes > idEntropy.length) {
    randomFillSync(idEntropy);
    idEntropyOffset = 0;
  }
  const start = idEntropyOffset;
  idEntropyOffset += bytes;
  return idEntropy.toString('base64url', start, idEntropyOffset);
}

/** Creates a new session ID from `node:crypto`'s CSPRNG. */
export function createSessionId(): string {
  return randomText(ID_BYTES);
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The random part of write tokens: 60 bits, 10 base64url characters, drawn again every 4,096 tokens. */
const TOKEN_EPOCH_LENGTH = 10;
const TOKEN_SPAN = 64 * 64;
let tokenEpoch = '';
let tokenCount = TOKEN_SPAN;

/**
 * A token unique to one store call that changes a record (see `RecordWrite.token`): 12 characters, a count of
 * two base64url digits, the fastest-changing first, then 60 random bits drawn once per 4,096 tokens. Unique
 * within the process by the count, and between processes and epochs by the random part. Not secret: it only
 * tells a resent command from a new one. Cheaper than random bytes for every call, and shorter than 13
 * characters, so V8 makes it one flat string (not a pair of parts), which stores compare without flattening;
 * two tokens mostly differ in their first character.
 */
export function createWriteToken(): string {
  if (tokenCount === TOKEN_SPAN) {
    tokenEpoch = randomText(8).slice(0, TOKEN_EPOCH_LENGTH);
    tokenCount = 0;
  }
  const count = tokenCount++;
  return BASE64URL[count & 63]! + BASE64URL[count >> 6]! + tokenEpoch;
}

/** Whether `value` has the exact form of an ID this library makes; anything else is never looked up. */
export function isSessionId(value: string): boolean {
  return value.length === 32 && ID_PATTERN.test(value);
}

/** The first characters of an ID, enough to match log lines, too few to hijack the session. */
export function redactSessionId(id: string): string {
  return `${id.slice(0, 6)}…`;
}

/**
 * A reference to a session that is safe to hand to the client: 128 bits of the ID's SHA-256, unique among a
 * user's sessions and no help in finding the ID.
 */
export function sessionRef(id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 22);
}

function sign(id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64url');
}

/** What a cookie's value says, once checked. */
export interface CookieIdentity {
  id: string;
  /** False when a secret other than the first verified it: the cookie should be signed again. */
  current: boolean;
}

/**
 * Turns session IDs into cookie values and back. With secrets, values are `id.hmac`: the first secret
 * signs, every secret verifies, so secrets can be rotated without logging anyone out.
 */
export class CookieValueCodec {
  readonly #secrets: readonly string[];

  constructor(secrets: readonly string[] = []) {
    if (secrets.some((secret) => typeof secret !== 'string' || secret.length < 32)) {
      throw new TypeError('trpc-session: every entry of `secrets` must be a string of at least 32 characters');
    }
    this.#secrets = secrets;
  }

  encode(id: string): string {
    const [secret] = this.#secrets;
    return secret === undefined ? id : `${id}.${sign(id, secret)}`;
  }

  /** The ID in a cookie value, or `null` when the value is malformed or its signature is wrong. */
  decode(value: string): CookieIdentity | null {
    if (this.#secrets.length === 0) return isSessionId(value) ? { id: value, current: true } : null;
    const dot = value.indexOf('.');
    if (dot !== 32 || value.length !== 33 + SIGNATURE_LENGTH) return null;
    const id = value.slice(0, dot);
    if (!isSessionId(id)) return null;
    const given = Buffer.from(value.slice(dot + 1));
    for (let index = 0; index < this.#secrets.length; index++) {
      const expected = Buffer.from(sign(id, this.#secrets[index]!));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return { id, current: index === 0 };
    }
    return null;
  }
}
