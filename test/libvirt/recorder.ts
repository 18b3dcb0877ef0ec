/**
 * A tiny control-socket server speaking src/api/protocol.ts, standing in
 * for virt-tierd in the hook tests and benchmark: it records every request
 * and either replies `ok` (mode 'reply') or accepts and never answers
 * (mode 'hang', a hung daemon).
 */
import net from 'node:net';
import { encodeFrame, FrameDecoder, MAX_REQUEST_BYTES, parseRequest, socketAddress, type Request } from '../../src/api/protocol.js';

export interface RecordedRequest extends Request {
  atMs: number;
}

export interface Recorder {
  name: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
  /** resolves once `count` requests have arrived (or rejects after timeoutMs) */
  waitFor(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
}

export async function startRecorder(name: string, mode: 'reply' | 'hang' = 'reply'): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const decoder = new FrameDecoder(MAX_REQUEST_BYTES);
    sock.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const req = parseRequest(frame);
        requests.push({ ...req, atMs: Date.now() });
        if (mode === 'reply') sock.write(encodeFrame({ v: 1, id: req.id, ok: true, result: { recorded: requests.length } }));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: socketAddress(name) }, () => resolve());
  });
  return {
    name,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`recorder ${name}: ${requests.length} of ${count} requests after ${timeoutMs} ms: ${JSON.stringify(requests.map((r) => r.args))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return requests;
    },
  };
}
