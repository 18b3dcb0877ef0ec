/**
 * The stats feed against a real registry running the real cslide engine
 * (test/integration/feed-harness.ts) and real websocket clients on loopback.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFeedServer, type FeedServer } from '../../src/feed/server.js';
import { nullLogger } from '../../src/log.js';
import { taskUpdate } from '../../src/feed/snapshot.js';
import { startHarness, type Harness } from './feed-harness.js';
import { connectFeed, feedUrl, type FeedClient } from './feed-client.js';

type Msg = Record<string, unknown>;
type Task = Record<string, any>;
const isUpdate = (m: Msg): boolean => m.type === 'update';
const tasksOf = (m: Msg): Task[] => m.tasks as Task[];

describe('feed: updates, subscriptions, metrics', () => {
  let h: Harness;
  let feed: FeedServer;
  before(async () => {
    h = await startHarness({ tasks: 4, domainTask: true });
    feed = await startFeedServer({ registry: h.registry, scans: h.scans, listen: { host: '127.0.0.1', port: 0 }, log: nullLogger(), updateIntervalMs: 50 });
  });
  after(async () => {
    await feed?.close();
    await h?.stop();
  });

  test('with no client the timer makes no JSON; the first client then gets entries made for it, not stale ones', async () => {
    // No client has connected yet: wait until every task has gone through three rounds meanwhile.
    const rounds = (): number[] => h.registry.tasks().map((r) => taskUpdate(r.view(), undefined).round ?? -1);
    const deadline = Date.now() + 20_000;
    while (Math.min(...rounds()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const before = Math.min(...rounds());
    assert.ok(before >= 3, `rounds ${rounds()}`);
    const c = await connectFeed(feedUrl(feed.url));
    // The update sent on attach, before any timer tick, already carries those rounds.
    const first = await c.waitFor(isUpdate, 'first update');
    const got = tasksOf(first);
    assert.equal(got.length, h.taskKeys.length);
    for (const t of got) assert.ok((t.round ?? -1) >= before, `${t.key}: round ${t.round} in the first update, ${before} reached before connecting`);
    c.ws.close();
  });

  test('hello, then per-task updates with node bytes, moves, heat, scan times', async () => {
    const c = await connectFeed(feedUrl(feed.url));
    const hello = await c.waitFor((m) => m.type === 'hello', 'hello');
    assert.equal(hello.v, 1);
    assert.equal(hello.pid, process.pid);
    // Wait until every task has stats from at least two rounds (moves happen from the first round on).
    const seen = new Map<string, Task>();
    await c.waitFor((m) => {
      if (!isUpdate(m)) return false;
      for (const t of tasksOf(m)) seen.set(t.key, t);
      return h.taskKeys.every((k) => (seen.get(k)?.round ?? -1) >= 1);
    }, 'two rounds of every task');
    const t = seen.get('feedtest/cslide/vm1')!;
    assert.equal(t.state, 'running');
    assert.equal(t.engine, 'cslide');
    assert.equal(t.tracker, 'synthetic');
    assert.deepEqual(t.nodes.map((n: Task) => n.node), [0, 2]);
    for (const n of t.nodes) assert.equal(n.usedBytes, n.hotBytes + n.coldBytes);
    const used = t.nodes.reduce((s: number, n: Task) => s + n.usedBytes, 0);
    assert.equal(used, t.presentBytes, 'node bytes sum to what the scan saw present');
    assert.ok(t.swappedBytes > 0, 'swapped pages of the simulated guest are reported');
    // The engine plans its tasks together under one quota (hottest first across guests), so which task's pages
    // moved in the first rounds depends on the guests' heat: the engine as a whole moved pages.
    const movedBytes = (x: Task): number => (x.moves?.totalPromotedBytes ?? 0) + (x.moves?.totalDemotedBytes ?? 0);
    assert.ok([...seen.values()].some((x) => movedBytes(x) > 0), 'cslide moved pages');
    assert.equal(typeof t.errors.moverByErrno, 'object');
    // The harness's scan sleeps 2 ms; node's timers may fire up to 1 ms early against performance.now().
    assert.ok(t.scan.scans >= 2 && t.scan.lastScanMs >= 1 && t.scan.scanSecondsTotal > 0, `scan timing recorded: ${JSON.stringify(t.scan)}`);
    assert.equal(t.heat.present.length, 64);
    assert.ok(t.heat.access.some((a: number) => a >= 66), 'a hot band');
    assert.ok(t.heat.access.some((a: number) => a >= 0 && a < 50), 'cold ranges');
    assert.ok(t.heat.swapped.some((s: number) => s > 0), 'swapped ranges');
    const dom = seen.get('feedtest/cslide/vm0')!;
    assert.equal(dom.domain, 'dom-0');
    c.ws.close();
  });

  test('updates carry only what changed; subscribe by key, by name, by domain', async () => {
    const c = await connectFeed(feedUrl(feed.url));
    const first = await c.waitFor(isUpdate, 'first update');
    assert.equal(tasksOf(first).length, 4, 'the first update after connecting has every task');
    c.ws.send(JSON.stringify({ type: 'subscribe', tasks: ['feedtest/cslide/vm2'] }));
    const ack = await c.waitFor((m) => m.type === 'subscribed', 'subscribed');
    assert.deepEqual(ack.tasks, ['feedtest/cslide/vm2']);
    let from = c.messages.indexOf(ack);
    const onlyOne = await c.waitFor((m, ) => isUpdate(m), 'update after subscribe', 5000, from);
    assert.deepEqual(tasksOf(onlyOne).map((t) => t.key), ['feedtest/cslide/vm2']);
    // a few more updates: never another task
    await new Promise((r) => setTimeout(r, 300));
    for (const m of c.messages.slice(from).filter(isUpdate)) for (const t of tasksOf(m)) assert.equal(t.key, 'feedtest/cslide/vm2');

    c.ws.send(JSON.stringify({ type: 'subscribe', domains: ['dom-0'], tasks: ['vm3'] }));
    const ack2 = await c.waitFor((m) => m.type === 'subscribed' && (m.domains as string[]).length === 1, 'subscribed to a domain');
    from = c.messages.indexOf(ack2);
    const upd = await c.waitFor(isUpdate, 'update after domain subscribe', 5000, from);
    assert.deepEqual(tasksOf(upd).map((t) => t.key).sort(), ['feedtest/cslide/vm0', 'feedtest/cslide/vm3']);
    c.ws.close();
  });

  test('a target that exits ends its task, visibly in the feed', async () => {
    const c = await connectFeed(feedUrl(feed.url));
    h.children[3]!.kill('SIGKILL');
    const m = await c.waitFor((x) => isUpdate(x) && tasksOf(x).some((t) => t.key === 'feedtest/cslide/vm3' && t.state === 'ended'), 'vm3 ended', 8000);
    const t = tasksOf(m).find((x) => x.key === 'feedtest/cslide/vm3')!;
    assert.match(t.ended, /ESRCH|not running/);
    c.ws.close();
  });

  test('garbage from a client gets an error naming the field, and the feed goes on', async () => {
    const c = await connectFeed(feedUrl(feed.url));
    await c.waitFor(isUpdate, 'first update');
    const cases: Array<[string | Buffer, string]> = [
      ['not json {', 'message'],
      ['[1,2]', 'message'],
      ['{"tasks":[]}', 'type'],
      ['{"type":"unsubscribe-all"}', 'type'],
      ['{"type":"subscribe","tasks":"vm1"}', 'tasks'],
      ['{"type":"subscribe","tasks":["vm1", 7]}', 'tasks[1]'],
      ['{"type":"subscribe","domains":[""]}', 'domains[0]'],
      ['{"type":"subscribe","all":"yes"}', 'all'],
      ['{"type":"subscribe","evil":1}', 'evil'],
      ['{"type":"subscribe","v":99}', 'v'],
      [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'message'],
    ];
    for (const [payload, field] of cases) {
      const from = c.messages.length;
      c.ws.send(payload, { binary: Buffer.isBuffer(payload) });
      const err = await c.waitFor((m) => m.type === 'error', `error for ${String(payload)}`, 3000, from);
      assert.equal(err.field, field, `field for ${String(payload)}: ${JSON.stringify(err)}`);
      assert.equal(typeof err.message, 'string');
    }
    // still subscribed to everything and still fed
    const from = c.messages.length;
    await c.waitFor(isUpdate, 'update after garbage', 3000, from);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    // an oversized frame closes that client (1009) and nothing else
    c.ws.send('x'.repeat(64 * 1024));
    const { code } = await c.closed;
    assert.equal(code, 1009);
    const other = await connectFeed(feedUrl(feed.url));
    await other.waitFor(isUpdate, 'update for a new client');
    other.ws.close();
  });

  test('50 clients each get every task', async () => {
    const clients: FeedClient[] = await Promise.all(Array.from({ length: 50 }, () => connectFeed(feedUrl(feed.url))));
    assert.equal(feed.counters().clients >= 50, true);
    await Promise.all(clients.map(async (c, i) => {
      const seen = new Set<string>();
      await c.waitFor((m) => {
        if (isUpdate(m)) for (const t of tasksOf(m)) seen.add(t.key);
        return h.taskKeys.every((k) => seen.has(k));
      }, `client ${i} sees every task`);
    }));
    // and they keep getting updates
    const marks = clients.map((c) => c.messages.length);
    await Promise.all(clients.map((c, i) => c.waitFor(isUpdate, `client ${i} later update`, 5000, marks[i])));
    for (const c of clients) c.ws.close();
  });

  test('/metrics: Prometheus text with per-task node bytes, moves, errors, scan time, process', async () => {
    const res = await fetch(feed.url + '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (re: RegExp): number => {
      const m = re.exec(text);
      assert.ok(m, `metric ${re} in:\n${text.slice(0, 3000)}`);
      return Number(m[1]);
    };
    assert.match(text, /^# TYPE virt_tier_task_memory_bytes gauge$/m);
    assert.ok(value(/^virt_tier_task_memory_bytes\{project="feedtest",engine="cslide",task="vm1",node="0",state="hot"\} (\d+)$/m) >= 0);
    assert.ok(value(/^virt_tier_task_memory_bytes\{project="feedtest",engine="cslide",task="vm1",node="swap",state="swapped"\} (\d+)$/m) > 0);
    assert.ok(value(/^virt_tier_task_moved_bytes_total\{project="feedtest",engine="cslide",task="vm1",direction="demote"\} (\d+)$/m) >= 0);
    assert.ok(value(/^virt_tier_task_scan_duration_seconds\{project="feedtest",engine="cslide",task="vm1"\} ([\d.e-]+)$/m) > 0);
    assert.ok(value(/^virt_tier_task_scans_total\{project="feedtest",engine="cslide",task="vm1"\} (\d+)$/m) >= 2);
    assert.equal(value(/^virt_tier_task_running\{project="feedtest",engine="cslide",task="vm3"\} (\d+)$/m), 0);
    assert.ok(value(/^process_cpu_seconds_total ([\d.e-]+)$/m) > 0);
    assert.ok(value(/^process_resident_memory_bytes (\d+)$/m) > 10 * 1024 * 1024);
    // every sample line is NAME{labels} VALUE or NAME VALUE; every metric has HELP and TYPE
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('#')) assert.match(line, /^# (HELP|TYPE) [a-z_]+ /);
      else assert.match(line, /^[a-z_]+(\{([a-z_]+="(?:[^"\\]|\\.)*",?)+\})? -?[\d.e+-]+$/, line);
    }
    assert.equal((await fetch(feed.url + '/nope')).status, 404);
    assert.equal((await fetch(feed.url + '/feed')).status, 426);
  });
});
