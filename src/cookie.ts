import { parseCookie, stringifySetCookie } from 'cookie';

/** The session cookie's attributes. Every one is optional; the defaults suit a same-site web app. */
export interface SessionCookieOptions {
  /**
   * The cookie's name. A `__Host-` prefix makes the browser pin the cookie to this host over HTTPS; it
   * requires `Secure`, `Path=/` and no `Domain`, which is enforced here. Prefixes are matched
   * case-insensitively (`__host-` too), as RFC 6265bis says browsers do.
   * @default 'sid'
   */
  name?: string;
  /**
   * Seconds a session lives without being used (its idle timeout). The Redis record's TTL and the cookie's
   * `Max-Age` are both set from it and refreshed on use.
   * @default 86400
   */
  lifespan?: number;
  /** Must start with `/`; printable ASCII without `;`. @default '/' */
  path?: string;
  /** A host name (`example.com`, `.example.com`). Omitted by default, so the cookie is sent to this host only. */
  domain?: string;
  /** Matched case-insensitively, as browsers do. @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none';
  /**
   * `'auto'` sets `Secure` when the request came over HTTPS (or, with `trustProxy`, when
   * `X-Forwarded-Proto` says `https`).
   * @default 'auto'
   */
  secure?: boolean | 'auto';
  /** @default true */
  httpOnly?: boolean;
  /** CHIPS partitioning, for a session inside a third-party iframe. @default false */
  partitioned?: boolean;
  /** @default undefined */
  priority?: 'low' | 'medium' | 'high';
}

/** The cookie options with defaults applied and checked once, at start-up. */
export interface CookieConfig {
  readonly name: string;
  readonly lifespanSeconds: number;
  readonly path: string;
  readonly domain: string | undefined;
  readonly sameSite: 'lax' | 'strict' | 'none';
  readonly secure: boolean | 'auto';
  readonly httpOnly: boolean;
  readonly partitioned: boolean;
  readonly priority: 'low' | 'medium' | 'high' | undefined;
}

/**
 * The attribute values a `Set-Cookie` header can carry, as the `cookie` package checks them when it writes
 * one (RFC 6265 section 4.1.1): checked here, at start-up, rather than by every request's header.
 */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DOMAIN_VALUE = /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** Printable ASCII without `;`, starting with `/`: a path that does not start with one is ignored by browsers. */
const PATH_VALUE = /^\/[\u0020-\u003A\u003D-\u007E]*$/;

/** A `TypeError` naming the cookie option; the value is quoted as JSON, so a control character shows as an escape. */
function optionError(option: string, why: string): TypeError {
  return new TypeError(`trpc-session: cookie.${option} ${why}`);
}

/** One of `allowed`, matched case-insensitively as browsers and the `cookie` package do; lower-cased. */
function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  const lowered = typeof value === 'string' ? value.toLowerCase() : value;
  if (!allowed.includes(lowered as T)) {
    throw optionError(option, `must be ${allowed.map((one) => `'${one}'`).join(', ')} (got ${JSON.stringify(value) ?? String(value)})`);
  }
  return lowered as T;
}

function booleanOption(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw optionError(option, `must be true or false (got ${JSON.stringify(value) ?? String(value)})`);
  return value;
}

/** Whether the name has the prefix, compared case-insensitively as RFC 6265bis section 4.1.3 says browsers do. */
const hasPrefix = (name: string, prefix: string) => name.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();

export function resolveCookieConfig(options: SessionCookieOptions = {}): CookieConfig {
  if (typeof options !== 'object' || options === null) throw new TypeError('trpc-session: cookie must be an object of cookie options');
  const name = options.name ?? 'sid';
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) throw optionError('name', `is not a valid cookie name (got ${JSON.stringify(name) ?? String(name)})`);
  const lifespanSeconds = options.lifespan ?? 86_400;
  if (!Number.isSafeInteger(lifespanSeconds) || lifespanSeconds < 1) throw optionError('lifespan', 'must be a whole number of seconds, at least 1');
  const path = options.path ?? '/';
  if (typeof path !== 'string' || !PATH_VALUE.test(path)) {
    throw optionError('path', `must start with "/" and hold only printable ASCII characters other than ";" (got ${JSON.stringify(path) ?? String(path)})`);
  }
  const domain = options.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !DOMAIN_VALUE.test(domain))) {
    throw optionError('domain', `must be a host name such as "example.com" (got ${JSON.stringify(domain) ?? String(domain)})`);
  }
  const secure = options.secure ?? 'auto';
  if (secure !== true && secure !== false && secure !== 'auto') throw optionError('secure', `must be true, false or 'auto' (got ${JSON.stringify(secure) ?? String(secure)})`);
  const sameSite = oneOf<'lax' | 'strict' | 'none'>('sameSite', options.sameSite ?? 'lax', ['lax', 'strict', 'none']);
  const httpOnly = booleanOption('httpOnly', options.httpOnly, true);
  const partitioned = booleanOption('partitioned', options.partitioned, false);
  const priority = options.priority === undefined ? undefined : oneOf<'low' | 'medium' | 'high'>('priority', options.priority, ['low', 'medium', 'high']);
  const prefixed = hasPrefix(name, '__Host-') || hasPrefix(name, '__Secure-');
  if (prefixed && secure === false) throw optionError('secure', 'cannot be false: a __Host- or __Secure- cookie must be Secure');
  if (hasPrefix(name, '__Host-') && path !== '/') throw optionError('path', 'must be "/": a __Host- cookie must have Path=/ and no Domain');
  if (hasPrefix(name, '__Host-') && domain !== undefined) throw optionError('domain', 'must be omitted: a __Host- cookie must have Path=/ and no Domain');
  if (sameSite === 'none' && secure === false) throw optionError('sameSite', "cannot be 'none' with secure: false: SameSite=None requires Secure");
  if (partitioned && secure === false) throw optionError('partitioned', 'cannot be true with secure: false: Partitioned requires Secure');
  return {
    name,
    lifespanSeconds,
    path,
    domain,
    sameSite,
    // Prefixed names, SameSite=None and Partitioned are only accepted by browsers with Secure: decided here, once.
    secure: secure === 'auto' && (prefixed || sameSite === 'none' || partitioned) ? true : secure,
    httpOnly,
    partitioned,
    priority,
  };
}

/** The raw value of the session cookie in a `Cookie` header, if any. */
export function readCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  return parseCookie(cookieHeader)[name];
}

const isSecure = (config: CookieConfig, requestIsHttps: boolean): boolean => (config.secure === 'auto' ? requestIsHttps : config.secure);

/**
 * A `Set-Cookie` value for the session cookie. Built as one object, with no spread: `cookie`'s
 * name-and-options form spreads its options, which cost 2 µs of every new session.
 */
function setCookieHeader(config: CookieConfig, value: string, maxAge: number | undefined, expires: Date | undefined, requestIsHttps: boolean): string {
  return stringifySetCookie({
    name: config.name,
    value,
    maxAge,
    expires,
    path: config.path,
    domain: config.domain,
    sameSite: config.sameSite,
    secure: isSecure(config, requestIsHttps),
    httpOnly: config.httpOnly,
    partitioned: config.partitioned,
    priority: config.priority,
  });
}

/** A `Set-Cookie` value that stores `value` for `maxAgeSeconds`, or until the browser session ends (undefined). */
export function serializeCookie(config: CookieConfig, value: string, maxAgeSeconds: number | undefined, requestIsHttps: boolean): string {
  return setCookieHeader(config, value, maxAgeSeconds, undefined, requestIsHttps);
}

/** A `Set-Cookie` value that makes the browser drop the session cookie. */
export function serializeExpiredCookie(config: CookieConfig, requestIsHttps: boolean): string {
  return setCookieHeader(config, '', 0, new Date(0), requestIsHttps);
}
