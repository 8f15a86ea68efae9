import type { SessionTransport } from './transport.js';

/** What the cross-origin check reads of a request: the facts its adapter translated. */
type RequestSite = Pick<SessionTransport, 'origin' | 'fetchSite' | 'host'>;

/** At most this much of a request's `Origin` is quoted back in the refusal. */
const SHOWN_ORIGIN_LENGTH = 100;

/**
 * `trustedOrigins`, checked: each an origin as a browser sends it (`https://app.example.com`, a port when not
 * the default), no path. A `TypeError` naming the option otherwise.
 */
export function resolveTrustedOrigins(given: unknown, sameSite: string): ReadonlySet<string> {
  if (given !== undefined && !Array.isArray(given)) {
    throw new TypeError('trpc-session: `trustedOrigins` must be an array of origins, such as ["https://app.example.com"]');
  }
  const origins = new Set<string>();
  for (const entry of (given as unknown[] | undefined) ?? []) {
    let origin: string | undefined;
    try {
      origin = typeof entry === 'string' ? new URL(entry).origin : undefined;
    } catch {
      origin = undefined;
    }
    if (origin === undefined || origin === 'null' || entry !== origin) {
      throw new TypeError(
        `trpc-session: \`trustedOrigins\` has ${JSON.stringify(entry) ?? String(entry)}, which is not an origin: write it as a browser sends it, scheme and host (and a port other than the default), without a path or a trailing slash, such as "https://app.example.com"`,
      );
    }
    origins.add(origin);
  }
  if (sameSite === 'none' && origins.size === 0) {
    throw new TypeError(
      "trpc-session: cookie.sameSite 'none' sends the session cookie with requests from every site, so `trustedOrigins` must list the origins of your own pages that call this server (such as [\"https://app.example.com\"]); requests from any other origin may then read the session but not change it",
    );
  }
  return origins;
}

/**
 * Why this request may not change the session (write, regenerate or destroy it), or null when it may. A
 * browser names the page a request comes from: `Origin` (sent with every POST, and every cross-origin
 * fetch), or without it `Sec-Fetch-Site`. A request from the server's own origin (its `Origin` names the host
 * the request was sent to) or a trusted one may; one from any other origin, or one whose `Sec-Fetch-Site` is
 * `cross-site`, may not: a page on another site (or a sibling subdomain) can make the browser send the
 * session cookie with a form, but must not change the session with it. A request with neither header comes
 * from no browser page (a server, a script, a server-side caller) and may.
 */
export function crossOriginRefusal(trusted: ReadonlySet<string>, request: RequestSite): string | null {
  // Each fact read only when needed: an adapter may compute it (the host, under `trustProxy`).
  const origin = request.origin;
  if (origin !== undefined && origin !== '') {
    let from: URL | undefined;
    try {
      from = new URL(origin);
    } catch {
      from = undefined;
    }
    if (from !== undefined && from.origin !== 'null') {
      const host = request.host;
      if (host !== undefined && from.host === host.toLowerCase()) return null;
      if (trusted.has(from.origin)) return null;
    }
    const shown = origin.length > SHOWN_ORIGIN_LENGTH ? `${origin.slice(0, SHOWN_ORIGIN_LENGTH)}…` : origin;
    return (
      `This request comes from another origin (${JSON.stringify(shown)}), which may read the session but not change it ` +
      '(write, regenerate or destroy it): a page of another site could make a browser send it. If it is a page of ' +
      'your own app, list its origin in `trustedOrigins`.'
    );
  }
  if (request.fetchSite === 'cross-site') {
    return (
      'This request comes from a page on another site (Sec-Fetch-Site: cross-site), which may read the session ' +
      'but not change it (write, regenerate or destroy it).'
    );
  }
  return null;
}
