import { parseCookie, stringifySetCookie } from 'cookie';

/** The session cookie's attributes. Every one is optional; the defaults suit a same-site web app. */
export interface SessionCookieOptions {
  /**
   * The cookie's name. A `__Host-` prefix makes the browser pin the cookie to this host over HTTPS; it
   * requires `Secure`, `Path=/` and no `Domain`, which is enforced here.
   * @default 'sid'
   */
  name?: string;
  /**
   * Seconds a session lives without being used (its idle timeout). The Redis record's TTL and the cookie's
   * `Max-Age` are both set from it and refreshed on use.
   * @default 86400
   */
  lifespan?: number;
  /** @default '/' */
  path?: string;
  /** Omitted by default, so the cookie is sent to this host only. */
  domain?: string;
  /** @default 'lax' */
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

export function resolveCookieConfig(options: SessionCookieOptions = {}): CookieConfig {
  const config: CookieConfig = {
    name: options.name ?? 'sid',
    lifespanSeconds: options.lifespan ?? 86_400,
    path: options.path ?? '/',
    domain: options.domain,
    sameSite: options.sameSite ?? 'lax',
    secure: options.secure ?? 'auto',
    httpOnly: options.httpOnly ?? true,
    partitioned: options.partitioned ?? false,
    priority: options.priority,
  };
  const fail = (why: string) => {
    throw new TypeError(`trpc-session: cookie ${JSON.stringify(config.name)}: ${why}`);
  };
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(config.name)) fail('the name is not a valid cookie name');
  if (!Number.isInteger(config.lifespanSeconds) || config.lifespanSeconds < 1) fail('lifespan must be a whole number of seconds, at least 1');
  const prefixed = config.name.startsWith('__Host-') || config.name.startsWith('__Secure-');
  if (prefixed && config.secure === false) fail('a __Host- or __Secure- cookie must be Secure');
  if (config.name.startsWith('__Host-') && (config.path !== '/' || config.domain !== undefined)) {
    fail('a __Host- cookie must have Path=/ and no Domain');
  }
  if (config.sameSite === 'none' && config.secure === false) fail('SameSite=None requires Secure');
  if (config.partitioned && config.secure === false) fail('Partitioned requires Secure');
  return config;
}

/** The raw value of the session cookie in a `Cookie` header, if any. */
export function readCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  return parseCookie(cookieHeader)[name];
}

function isSecure(config: CookieConfig, requestIsHttps: boolean): boolean {
  if (config.secure !== 'auto') return config.secure;
  // Prefixed names and SameSite=None are only accepted by browsers with Secure.
  return requestIsHttps || config.name.startsWith('__') || config.sameSite === 'none' || config.partitioned;
}

/**
 * A `Set-Cookie` value for the session cookie. Built as one object, with no spread: `cookie`'s
 * name-and-options form spreads its options, which cost 2 µs of every new session.
 */
function setCookieHeader(config: CookieConfig, value: string, maxAge: number, expires: Date | undefined, requestIsHttps: boolean): string {
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

/** A `Set-Cookie` value that stores `value` for `maxAgeSeconds`. */
export function serializeCookie(config: CookieConfig, value: string, maxAgeSeconds: number, requestIsHttps: boolean): string {
  return setCookieHeader(config, value, maxAgeSeconds, undefined, requestIsHttps);
}

/** A `Set-Cookie` value that makes the browser drop the session cookie. */
export function serializeExpiredCookie(config: CookieConfig, requestIsHttps: boolean): string {
  return setCookieHeader(config, '', 0, new Date(0), requestIsHttps);
}
