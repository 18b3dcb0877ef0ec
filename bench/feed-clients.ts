/**
 * The client side of bench/feed.ts, in its own process so the daemon's
 * numbers are the daemon's: connects N websocket clients to URL, counts the
 * update messages and bytes they receive, prints one JSON line on SIGTERM
 * (or after DURATION_MS).
 *   node dist/bench/feed-clients.js URL N DURATION_MS
 */
import WebSocket from 'ws';

const [url, nText, durationText] = process.argv.slice(2);
const n = Number(nText);
let messages = 0;
let bytes = 0;
let connected = 0;
const sockets: WebSocket[] = [];
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url!);
  ws.on('open', () => connected++);
  ws.on('message', (d: Buffer) => {
    messages++;
    bytes += d.length;
  });
  ws.on('error', () => undefined);
  sockets.push(ws);
}
const finish = (): void => {
  process.stdout.write(JSON.stringify({ connected, messages, bytes }) + '\n');
  for (const s of sockets) s.terminate();
  process.exit(0);
};
process.on('SIGTERM', finish);
setTimeout(finish, Number(durationText));
