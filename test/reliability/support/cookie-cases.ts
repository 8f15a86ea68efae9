import { createHmac } from 'node:crypto';
import fc from 'fast-check';

/** One generated `Cookie` header and what the server must do with it. */
export interface CookieCase {
  kind: string;
  /** The header as text; code points above 0xFF go on the wire as UTF-8. */
  header: string;
  /** Whether the first `sid` cookie is a well-formed (and, with a secret, correctly signed) ID: one store lookup. */
  lookup: boolean;
}

/** How a signed cookie value is made: `id.` + base64url HMAC-SHA256 of the ID (the format, written out independently). */
export function signedValue(id: string, secret: string): string {
  return `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`;
}

/** A well-formed session ID nobody issued: 24 random bytes in base64url. */
export const unknownId = fc.uint8Array({ minLength: 24, maxLength: 24 }).map((bytes) => Buffer.from(bytes).toString('base64url'));

/** C0 controls and DEL: Node's HTTP parser refuses all but tab in a header value. */
const CONTROL_CHARACTERS = [...Array.from({ length: 32 }, (_, code) => String.fromCharCode(code)), '\x7f'];

const junk = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '=', ';', ';;;', '"', '""', '%', '%zz', '%00', '\\', 'null', 'undefined', '__proto__', 'constructor', '[object Object]'),
);

/** Characters never in a base64url ID, some of which a cookie parser treats specially. */
const foreign = fc.constantFrom('+', '/', '=', '.', '%', '~', '!', '"', ',', '\\', ' ', '\t', 'é', '€', '\u{1F36A}', '\u0000');

/** An ID changed just enough to be malformed: a character replaced, added or removed, padding, a dot. */
const nearMiss = fc.tuple(unknownId, fc.nat(31), foreign, fc.constantFrom('replace', 'insert', 'drop', 'pad', 'dot', 'double')).map(
  ([id, at, char, how]) => {
    switch (how) {
      case 'replace':
        return id.slice(0, at) + (char === ' ' || char === '\t' ? 'é' : char) + id.slice(at + 1);
      case 'insert':
        return id.slice(0, at) + (char === ' ' || char === '\t' ? '+' : char) + id.slice(at);
      case 'drop':
        return id.slice(0, at) + id.slice(at + 1);
      case 'pad':
        return `${id}=`;
      case 'dot':
        return `${id}.`;
      default:
        return id + id;
    }
  },
);

const otherCookies = fc.array(fc.tuple(fc.constantFrom('a', 'theme', 'csrf', '_ga', 'SID', 'sid2', 'ssid', ' s id'), junk), { maxLength: 4 });
const join = (pairs: (readonly [string, string])[]) => pairs.map(([name, value]) => `${name}=${value}`).join('; ');

/** Wraps a `sid` value in other cookies; the first `sid` pair is the one the server reads. */
const amongOthers = (value: fc.Arbitrary<string>) =>
  fc.tuple(otherCookies, value, otherCookies).map(([before, sid, after]) => join([...before, ['sid', sid], ...after]));

/**
 * Generated `Cookie` headers for a server whose cookie is named `sid`, unsigned or signed with `secret`.
 * Malformed values must cause no store lookup; a well-formed unknown ID costs one and is never adopted.
 */
export function cookieCases(secret?: string): fc.Arbitrary<CookieCase> {
  const valid = secret === undefined ? unknownId : unknownId.map((id) => signedValue(id, secret));
  const malformed: fc.Arbitrary<string>[] = [junk, nearMiss];
  if (secret !== undefined) {
    malformed.push(
      unknownId, // unsigned
      fc.tuple(unknownId, fc.string({ minLength: 43, maxLength: 43, unit: fc.constantFrom(...'ABCDEFabcdef0123456789-_') })).map(([id, sig]) => `${id}.${sig}`),
      fc.tuple(unknownId, fc.string({ minLength: 32, maxLength: 40 })).map(([id, other]) => signedValue(id, other)), // another secret
      fc.tuple(unknownId, fc.nat(31)).map(([id, at]) => {
        const signed = signedValue(id, secret);
        return signed.slice(0, at) + (signed[at] === 'A' ? 'B' : 'A') + signed.slice(at + 1); // tampered ID
      }),
      fc.tuple(valid, fc.integer({ min: 1, max: 42 })).map(([value, cut]) => value.slice(0, value.length - cut)), // truncated signature
      valid.map((value) => `${value}A`),
    );
  }
  const bad = fc.oneof(...malformed);
  const cases: fc.Arbitrary<CookieCase>[] = [
    junk.map((header) => ({ kind: 'garbage', header, lookup: false })),
    fc.array(fc.tuple(junk, junk), { minLength: 1, maxLength: 6 }).map((pairs) => ({ kind: 'garbage pairs', header: join(pairs), lookup: false })),
    amongOthers(bad).map((header) => ({ kind: 'malformed id', header, lookup: false })),
    amongOthers(valid).map((header) => ({ kind: 'unknown id', header, lookup: true })),
    fc.tuple(bad, fc.array(fc.oneof(bad, valid), { minLength: 1, maxLength: 5 })).map(([first, rest]) => ({
      kind: 'duplicated names',
      header: join([first, ...rest].map((value) => ['sid', value] as const)),
      lookup: false,
    })),
    fc.tuple(valid, fc.array(fc.oneof(bad, valid), { minLength: 1, maxLength: 5 })).map(([first, rest]) => ({
      kind: 'duplicated names',
      header: join([first, ...rest].map((value) => ['sid', value] as const)),
      lookup: true,
    })),
    fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 100, max: 1500 }), fc.boolean()).map(([unit, times, prefixed]) => ({
      kind: 'huge',
      header: (prefixed ? 'sid=' : '') + unit.repeat(times).slice(0, 12_000),
      lookup: false,
    })),
    fc.tuple(fc.integer({ min: 50, max: 300 }), fc.boolean(), bad, valid, fc.nat(300)).map(([count, wellFormed, malformedValue, validValue, at]) => {
      const pairs: [string, string][] = Array.from({ length: count }, (_, index) => [`c${index}`, 'x'.repeat(index % 17)]);
      pairs.splice(at % count, 0, ['sid', wellFormed ? validValue : malformedValue]);
      return { kind: 'huge', header: join(pairs), lookup: wellFormed };
    }),
    fc.tuple(unknownId, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((text) => /[^\x00-\x7f]/.test(text)), fc.boolean()).map(([id, text, inName]) => ({
      kind: 'unicode',
      header: inName ? `sid${text}=${id}` : `sid=${id}${text}`,
      lookup: false,
    })),
    // Never added to a well-formed value, whose edges the parser would trim of a tab.
    fc.tuple(amongOthers(bad), fc.constantFrom(...CONTROL_CHARACTERS), fc.nat()).map(([header, control, at]) => ({
      kind: 'control characters',
      header: header.slice(0, at % (header.length + 1)) + control + header.slice(at % (header.length + 1)),
      lookup: false,
    })),
  ];
  return fc.oneof(...cases);
}
