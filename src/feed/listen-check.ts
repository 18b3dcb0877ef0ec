/**
 * Who may listen where: the feed listens on loopback by default; any other
 * address needs an explicit address AND a token (design.md, "Security and
 * robustness"). Also the token comparison, in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { invalidField } from '../errors.js';

export const MIN_TOKEN_LENGTH = 16;

/** 127.0.0.0/8, ::1, their IPv4-mapped forms, and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Throws a VirtTierError naming --http / --http-token-file (flags that exist) when the listener is not allowed. */
export function checkListen(listen: { host: string; port: number }, token: string | undefined): void {
  const host = listen.host.replace(/^\[|\]$/g, '');
  if (host !== 'localhost' && isIP(host) === 0) throw invalidField('--http', listen.host, 'an IPv4 or IPv6 address, or localhost', 'not an address');
  if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) throw invalidField('--http', listen.port, 'a port 0..65535 (0: any free port)', 'bad port');
  if (token !== undefined && (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))) {
    throw invalidField('--http-token-file', '(hidden)', `a token of at least ${MIN_TOKEN_LENGTH} characters without blanks on the file's first line`, 'token too weak');
  }
  if (!isLoopbackHost(host) && token === undefined) {
    throw invalidField('--http', `${listen.host}:${listen.port}`, '127.0.0.1 or ::1, or any address together with --http-token-file FILE', 'the stats feed listens beyond loopback only with a token');
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time token check (hashes first so lengths do not leak). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

/** The token a request carries: `Authorization: Bearer TOKEN`, else `?token=TOKEN`. */
export function requestToken(headers: { authorization?: string }, url: URL): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : '';
  }
  return url.searchParams.get('token') ?? undefined;
}
