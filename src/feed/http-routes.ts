/**
 * The feed server's HTTP routing: plain requests (`/` the live view page,
 * `/metrics`, `/feed` without an upgrade) and websocket upgrades (only
 * `/feed`). Who may connect is access.ts; what a route serves lives with
 * its concern (metrics-endpoint.ts, sessions.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WebSocket, WebSocketServer } from 'ws';
import type { EngineLogger } from '../runner/engine.js';
import { requestRefusal, requestUrl, tokenAccepted, upgradeRefusal } from './access.js';
import { METRICS_CONTENT_TYPE } from './metrics-endpoint.js';

/** The live view page (web/live.html), found next to the package root from dist/ or src/. */
export function loadLiveView(): string | undefined {
  for (const rel of ['../../../web/live.html', '../../web/live.html']) {
    try {
      return readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
    } catch {
      // try the next layout
    }
  }
  return undefined;
}

export interface RequestRoutes {
  token?: string;
  /** the --http host and --http-allow-host names: a Host naming one is allowed besides loopback names and address literals */
  listenHosts: readonly string[];
  /** refusals are logged at debug level only: a flood of them must not flood the log */
  log?: EngineLogger;
  /** web/live.html, or undefined when not installed (500) */
  liveView?: string;
  /** the body of a `/metrics` scrape */
  metrics: () => string;
}

/** The handler of plain HTTP requests. */
export function requestHandler(routes: RequestRoutes): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = requestUrl(req);
    const reply = (status: number, type: string, body: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const refusal = requestRefusal(req, routes.listenHosts);
    if (refusal !== undefined) {
      routes.log?.debug(refusal.warning ?? 'feed: request refused', { host: req.headers.host, origin: req.headers.origin, path: url.pathname });
      return reply(refusal.status, 'text/plain', 'forbidden: this server answers only to its own address or a loopback name\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD' });
    switch (url.pathname) {
      case '/':
      case '/index.html':
        if (routes.liveView === undefined) return reply(500, 'text/plain', 'live view page (web/live.html) not installed\n');
        return reply(200, 'text/html; charset=utf-8', routes.liveView, {
          'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
        });
      case '/metrics':
        if (!tokenAccepted(routes.token, req, url)) return reply(401, 'text/plain', 'unauthorized: token required\n', { 'WWW-Authenticate': 'Bearer' });
        return reply(200, METRICS_CONTENT_TYPE, routes.metrics());
      case '/feed':
        return reply(426, 'text/plain', 'websocket upgrade required\n', { Upgrade: 'websocket' });
      default:
        return reply(404, 'text/plain', 'not found\n');
    }
  };
}

function rejectUpgrade(socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`);
  socket.destroy();
}

export interface UpgradeRoutes {
  token?: string;
  /** see RequestRoutes.listenHosts */
  listenHosts: readonly string[];
  maxClients: number;
  /** connected websocket clients now */
  clients: () => number;
  /** counts refused upgrades */
  onRefused: () => void;
  wss: WebSocketServer;
  log: EngineLogger;
}

/** The handler of the server's `upgrade` event: `/feed` past the access checks becomes a websocket. */
export function upgradeHandler(routes: UpgradeRoutes): (req: IncomingMessage, socket: Socket, head: Buffer) => void {
  const { wss } = routes;
  return (req, socket, head) => {
    socket.on('error', () => undefined);
    const url = requestUrl(req);
    const refusal = upgradeRefusal(req, url, { token: routes.token, clients: routes.clients(), maxClients: routes.maxClients, listenHosts: routes.listenHosts });
    if (refusal === undefined && url.pathname !== '/feed') {
      routes.onRefused();
      return rejectUpgrade(socket, 404, 'Not Found');
    }
    if (refusal !== undefined) {
      routes.onRefused();
      if (refusal.warning !== undefined) routes.log.warn(refusal.warning, { remote: socket.remoteAddress });
      return rejectUpgrade(socket, refusal.status, refusal.reason);
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => wss.emit('connection', ws, req));
  };
}
