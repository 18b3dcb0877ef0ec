/** A recording websocket client for the feed tests. */
import WebSocket, { type ClientOptions } from 'ws';

export interface FeedClient {
  ws: WebSocket;
  messages: Array<Record<string, unknown>>;
  /** resolves with the first message (already received or future) after index `from` matching `pred` */
  waitFor(pred: (m: Record<string, unknown>) => boolean, what: string, timeoutMs?: number, from?: number): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number }>;
}

export function feedUrl(httpUrl: string, query = ''): string {
  return httpUrl.replace(/^http/, 'ws') + '/feed' + query;
}

/** Connects; rejects with the HTTP status when the upgrade is refused. */
export function connectFeed(url: string, options: ClientOptions = {}): Promise<FeedClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const messages: Array<Record<string, unknown>> = [];
    const waiters = new Set<() => void>();
    let closedResolve!: (v: { code: number }) => void;
    const closed = new Promise<{ code: number }>((r) => (closedResolve = r));
    ws.on('message', (data) => {
      messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
      for (const w of waiters) w();
    });
    ws.on('close', (code) => closedResolve({ code }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
    ws.once('error', reject);
    ws.once('open', () => {
      ws.on('error', () => undefined);
      resolve({
        ws,
        messages,
        closed,
        waitFor(pred, what, timeoutMs = 5000, from = 0) {
          return new Promise((res, rej) => {
            const check = (): boolean => {
              const m = messages.slice(from).find(pred);
              if (m) {
                waiters.delete(check);
                clearTimeout(timer);
                res(m);
                return true;
              }
              return false;
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rej(new Error(`timed out waiting for ${what}; last messages: ${JSON.stringify(messages.slice(-2)).slice(0, 600)}`));
            }, timeoutMs);
            if (!check()) waiters.add(check);
          });
        },
      });
    });
  });
}
