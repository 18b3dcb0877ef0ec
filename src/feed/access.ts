/**
 * Who may use the feed server, decided per request (listen-check.ts decides
 * where it may listen):
 * - every request's Host must be a loopback name, an IP address literal or
 *   the configured --http host or --http-allow-host names: a DNS-rebinding page (a name of the
 *   attacker's that resolves to 127.0.0.1) sends its own name as Host and is
 *   refused before any route: 403;
 * - a browser Origin must be allowed the same way and match the Host, so no
 *   cross-site page reads the feed: 403;
 * - with a token, `/feed` and `/metrics` need it (`Authorization: Bearer` or
 *   `?token=`): 401 otherwise;
 * - at most `maxClients` websocket clients: 503.
 * Connection counts (all and per remote address) are limited in server.ts.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { requestToken, tokenMatches } from './listen-check.js';

/**
 * True when `hostname` (a URL hostname: lower case, IPv6 in brackets) may
 * name this server. Only names that cannot be rebound: `localhost` (browsers
 * resolve it to loopback themselves), address literals (an address is its
 * own origin; no DNS is involved), and the address the server was told to
 * listen on or allowed by name (--http-allow-host).
 */
export function hostnameAllowed(hostname: string, listenHosts: readonly string[]): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || isIP(h) !== 0) return true;
  return listenHosts.some((l) => h === l.replace(/^\[|\]$/g, '').toLowerCase());
}

/** The hostname of a Host header value (`name:port`, `[v6]:port`), or undefined when it is not one. */
function hostnameOf(hostHeader: string): string | undefined {
  if (hostHeader === '' || /[\s/?#@\\]/.test(hostHeader)) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return undefined;
  }
}

/** The request's Host names this server (hostnameAllowed); a request without Host is refused. */
export function hostAllowed(req: IncomingMessage, listenHosts: readonly string[]): boolean {
  const host = req.headers.host;
  if (host === undefined) return false;
  const hostname = hostnameOf(host);
  return hostname !== undefined && hostnameAllowed(hostname, listenHosts);
}

/** The request's URL (path and query); the host part is a placeholder, never the Host header. */
export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://feed.invalid');
}

/** True without a configured token, else when the request carries it. */
export function tokenAccepted(token: string | undefined, req: IncomingMessage, url: URL): boolean {
  return token === undefined || tokenMatches(token, requestToken(req.headers, url));
}

/** No Origin (not a browser, or a same-origin GET), or an allowed Origin whose host:port is the Host the request was sent to. */
export function originAllowed(req: IncomingMessage, listenHosts: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === req.headers.host && hostnameAllowed(url.hostname, listenHosts);
  } catch {
    return false;
  }
}

/** Why any request (plain or upgrade) is refused before routing: Host, then Origin; undefined to go on. */
export function requestRefusal(req: IncomingMessage, listenHosts: readonly string[]): UpgradeRefusal | undefined {
  if (!hostAllowed(req, listenHosts)) return { status: 403, reason: 'Forbidden', warning: 'feed: request for a host name that is not this server (DNS rebinding?)' };
  if (!originAllowed(req, listenHosts)) return { status: 403, reason: 'Forbidden', warning: 'feed: request from a foreign Origin' };
  return undefined;
}

export interface UpgradeRefusal {
  status: number;
  reason: string;
  /** logged as a warning when set */
  warning?: string;
}

/** Why a websocket upgrade to `/feed` is refused, checked in this order: Host, Origin, token, capacity; undefined to accept. */
export function upgradeRefusal(req: IncomingMessage, url: URL, opts: { token?: string; clients: number; maxClients: number; listenHosts: readonly string[] }): UpgradeRefusal | undefined {
  const early = requestRefusal(req, opts.listenHosts);
  if (early !== undefined) return early;
  if (!tokenAccepted(opts.token, req, url)) return { status: 401, reason: 'Unauthorized', warning: 'feed: upgrade without a valid token' };
  if (opts.clients >= opts.maxClients) return { status: 503, reason: 'Service Unavailable' };
  return undefined;
}
