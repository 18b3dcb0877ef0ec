/**
 * The feed under misbehaving clients: one that stops reading (bounded
 * memory, then dropped), one that never answers pings (dropped by the
 * heartbeat), clients without or with a wrong token (401), and listeners
 * the design forbids (refused at start).
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startFeedServer, type FeedServer } from '../../src/feed/server.js';
import { VirtTierError } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';
import { startHarness, type Harness } from './feed-harness.js';
import { connectFeed, feedUrl } from './feed-client.js';

const isUpdate = (m: Record<string, unknown>): boolean => m.type === 'update';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('feed robustness', () => {
  let h: Harness;
  before(async () => {
    // Big heat strips (4096 buckets: ~35 KB per task) and fast cycles make
    // updates large and frequent, so a client that stops reading fills the
    // kernel's loopback buffers within a second or so.
    h = await startHarness({ tasks: 20, pagesPerTask: 64, heatBuckets: 4096, cycleSleepMs: 5 });
  });
  after(async () => {
    await h?.stop();
  });

  test('a client that stops reading: its send buffer stays bounded, it is dropped, others are not', async (t) => {
    const maxBufferedBytes = 256 * 1024;
    const feed = await startFeedServer({ registry: h.registry, scans: h.scans, listen: { host: '127.0.0.1', port: 0 }, log: nullLogger(), updateIntervalMs: 20, maxBufferedBytes, slowClientTimeoutMs: 1000 });
    try {
      const healthy = await connectFeed(feedUrl(feed.url));
      const slow = await connectFeed(feedUrl(feed.url));
      await slow.waitFor(isUpdate, 'a first update');
      (slow.ws as unknown as { _socket: Socket })._socket.pause(); // stops reading: the kernel buffers fill, then node's
      let largestUpdate = 0;
      healthy.ws.on('message', (d: Buffer) => (largestUpdate = Math.max(largestUpdate, d.length)));
      let peakBuffered = 0;
      const t0 = Date.now();
      while (feed.counters().slowClientsDropped === 0 && Date.now() - t0 < 30000) {
        peakBuffered = Math.max(peakBuffered, feed.counters().maxClientBufferedBytes);
        await sleep(5);
      }
      const c = feed.counters();
      assert.equal(c.slowClientsDropped, 1, 'the slow client was dropped');
      assert.ok(c.droppedUpdates > 0, 'updates were dropped for it before');
      assert.ok(largestUpdate > 100 * 1024, `updates are large (${largestUpdate} B), so an unbounded queue would have grown fast`);
      // The bound: at most one update beyond maxBufferedBytes is ever queued in the daemon.
      assert.ok(peakBuffered <= maxBufferedBytes + largestUpdate, `peak buffered ${peakBuffered} <= ${maxBufferedBytes} + ${largestUpdate}`);
      t.diagnostic(`largest update ${largestUpdate} B, peak buffered ${peakBuffered} B, bound ${maxBufferedBytes} B, updates dropped ${c.droppedUpdates}, after ${Date.now() - t0} ms`);
      // the healthy client still gets updates
      const mark = healthy.messages.length;
      await healthy.waitFor(isUpdate, 'healthy client update after the drop', 5000, mark);
      // A terminated socket leaves the client count on its 'close' event, a tick or more later.
      for (const until = Date.now() + 5000; feed.counters().clients > 1 && Date.now() < until; ) await sleep(10);
      assert.equal(feed.counters().clients, 1);
      healthy.ws.close();
      slow.ws.terminate();
    } finally {
      await feed.close();
    }
  });

  test('the heartbeat drops a client that never answers pings and keeps one that does', async () => {
    // 1.5 s between heartbeats: a healthy client's pong has that long to be
    // read by this (busy) process; 300 ms dropped healthy clients on a loaded host.
    const feed = await startFeedServer({ registry: h.registry, scans: h.scans, listen: { host: '127.0.0.1', port: 0 }, log: nullLogger(), updateIntervalMs: 1000, heartbeatIntervalMs: 1500 });
    try {
      const dead = await connectFeed(feedUrl(feed.url), { autoPong: false });
      const alive = await connectFeed(feedUrl(feed.url));
      let pings = 0;
      const pinged = (atLeast: number): Promise<void> => new Promise((resolve) => {
        const check = (): void => {
          if (pings < atLeast) return;
          alive.ws.off('ping', onPing);
          resolve();
        };
        const onPing = (): void => {
          pings++;
          check();
        };
        alive.ws.on('ping', onPing);
        check();
      });
      const { code } = await dead.closed;
      assert.equal(code, 1006, 'terminated (no close frame)');
      assert.equal(feed.counters().deadClientsDropped, 1);
      // Two more heartbeats, counted as they arrive, not slept through.
      await pinged(2);
      assert.equal(alive.ws.readyState, alive.ws.OPEN);
      assert.equal(feed.counters().deadClientsDropped, 1);
      alive.ws.close();
    } finally {
      await feed.close();
    }
  });

  test('with a token: none or a wrong one gets 401; Bearer or ?token= gets in; /metrics too', async () => {
    const token = 'feed-test-token-0123456789';
    const feed = await startFeedServer({ registry: h.registry, listen: { host: '127.0.0.1', port: 0 }, token, log: nullLogger(), updateIntervalMs: 100 });
    try {
      await assert.rejects(connectFeed(feedUrl(feed.url)), (e: { statusCode?: number }) => e.statusCode === 401);
      await assert.rejects(connectFeed(feedUrl(feed.url, '?token=wrong-token-0123456789')), (e: { statusCode?: number }) => e.statusCode === 401);
      await assert.rejects(connectFeed(feedUrl(feed.url), { headers: { Authorization: 'Bearer nope' } }), (e: { statusCode?: number }) => e.statusCode === 401);
      await assert.rejects(connectFeed(feedUrl(feed.url), { headers: { Authorization: `Basic ${token}` } }), (e: { statusCode?: number }) => e.statusCode === 401);
      const byHeader = await connectFeed(feedUrl(feed.url), { headers: { Authorization: `Bearer ${token}` } });
      await byHeader.waitFor(isUpdate, 'update with Bearer');
      const byQuery = await connectFeed(feedUrl(feed.url, `?token=${token}`));
      await byQuery.waitFor(isUpdate, 'update with ?token=');
      byHeader.ws.close();
      byQuery.ws.close();
      assert.equal((await fetch(feed.url + '/metrics')).status, 401);
      assert.equal((await fetch(feed.url + '/metrics', { headers: { Authorization: `Bearer ${token}` } })).status, 200);
      assert.ok(feed.counters().rejectedUpgrades >= 4);
      // a cross-site page cannot read the feed even on loopback
      await assert.rejects(connectFeed(feedUrl(feed.url, `?token=${token}`), { origin: 'http://evil.example' }), (e: { statusCode?: number }) => e.statusCode === 403);
    } finally {
      await feed.close();
    }
  });

  test('refused listeners: a non-loopback address without a token, a weak token, a bad address', async () => {
    const start = (host: string, token?: string): Promise<FeedServer> =>
      startFeedServer({ registry: h.registry, listen: { host, port: 0 }, token, log: nullLogger() });
    for (const [host, token, field] of [['0.0.0.0', undefined, '--http'], ['::', undefined, '--http'], ['192.0.2.1', undefined, '--http'], ['0.0.0.0', 'short', '--http-token-file'], ['not-an-address', undefined, '--http']] as const) {
      await assert.rejects(start(host, token), (e: unknown) => e instanceof VirtTierError && e.field === field && /loopback|token|address/.test(e.message), `${host} ${token ?? ''}`);
    }
    // loopback in its IPv6 form is fine without a token; any address with a token is fine
    const v6 = await start('::1');
    assert.match(v6.url, /^http:\/\/\[::1\]:\d+$/);
    await v6.close();
    const wide = await start('0.0.0.0', 'a-long-enough-token-1234');
    await wide.close();
  });
});
