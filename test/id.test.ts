import { expect, test } from 'vitest';
import { z } from 'zod';
import { CookieValueCodec, createSessionId, createWriteToken, isSessionId, redactSessionId } from '../src/id.js';
import { createSessionManager, memoryStore } from '../src/index.js';

test('IDs are 192 random bits in 32 base64url characters, and unique', () => {
  const ids = new Set(Array.from({ length: 10_000 }, createSessionId));
  expect(ids.size).toBe(10_000);
  for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
  expect(Buffer.from(createSessionId(), 'base64url')).toHaveLength(24);
});

test('write tokens (12 characters: a count, then 60 random bits per 4,096) drawn between IDs are unique and leave every ID whole, across many epochs and refills of the entropy', () => {
  const ids = new Set<string>();
  const tokens = new Set<string>();
  for (let index = 0; index < 15_000; index++) {
    // Uneven turns, so an ID is asked for when less than its 24 bytes are left.
    for (let turn = index % 3; turn >= 0; turn--) tokens.add(createWriteToken());
    ids.add(createSessionId());
  }
  expect(ids.size).toBe(15_000);
  for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
  expect(tokens.size).toBe(30_000);
  for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{12}$/);
  // 30,000 tokens span at least seven epochs: each drew its own random part.
  expect(new Set([...tokens].map((token) => token.slice(2))).size).toBeGreaterThanOrEqual(7);
});

test('only the exact ID form passes the format check', () => {
  expect(isSessionId(createSessionId())).toBe(true);
  for (const value of ['', 'a'.repeat(31), 'a'.repeat(33), `${'a'.repeat(31)}=`, `${'a'.repeat(31)}/`, `${'a'.repeat(31)}\n`, `${'a'.repeat(30)}é`]) {
    expect(isSessionId(value)).toBe(false);
  }
});

test('a redacted ID keeps six characters', () => {
  expect(redactSessionId('abcdefghijklmnopqrstuvwxyz012345')).toBe('abcdef…');
});

test('unsigned cookie values are the ID itself', () => {
  const codec = new CookieValueCodec();
  const id = createSessionId();
  expect(codec.encode(id)).toBe(id);
  expect(codec.decode(id)).toEqual({ id, current: true });
  expect(codec.decode(`${id}.sig`)).toBeNull();
});

test('signed values verify with any secret, are current only under the first, and reject tampering', () => {
  const [a, b, c] = ['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32)];
  const id = createSessionId();
  const signedByB = new CookieValueCodec([b]).encode(id);
  expect(new CookieValueCodec([a, b]).decode(signedByB)).toEqual({ id, current: false });
  expect(new CookieValueCodec([b, a]).decode(signedByB)).toEqual({ id, current: true });
  expect(new CookieValueCodec([a, c]).decode(signedByB)).toBeNull();
  const other = createSessionId();
  expect(new CookieValueCodec([b]).decode(`${other}${signedByB.slice(32)}`)).toBeNull();
  expect(new CookieValueCodec([b]).decode(id)).toBeNull();
  const flipped = signedByB.endsWith('A') ? 'B' : 'A';
  expect(new CookieValueCodec([b]).decode(`${signedByB.slice(0, -1)}${flipped}`)).toBeNull();
});

test('short secrets are refused at start-up', () => {
  expect(() => new CookieValueCodec(['too short'])).toThrow(/at least 32 characters/);
});

test('an empty `secrets` list is refused at start-up: it would leave the cookies unsigned while looking signed', () => {
  const create = () => createSessionManager({ schema: z.object({ n: z.number().optional() }), store: memoryStore(), secrets: [] });
  expect(create).toThrow(TypeError);
  expect(create).toThrow('`secrets` is empty');
});
