import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { heatStrip, mapTotals, summarizeMap } from '../../src/feed/heat.js';
import { parseClientMessage, subscribed, FeedProtocolError } from '../../src/feed/protocol.js';
import { MoveErrorCounters, renderMetrics } from '../../src/feed/metrics.js';
import { taskUpdate } from '../../src/feed/snapshot.js';
import { TaskEntries } from '../../src/feed/task-entries.js';
import type { TaskRuntime } from '../../src/model/task-runtime.js';
import { ScanObserver, taskKey } from '../../src/feed/scan-observer.js';
import type { EngineTask } from '../../src/runner/engine.js';
import type { ScanTarget } from '../../src/scan/tracker.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import { checkListen, isLoopbackHost, requestToken, tokenMatches } from '../../src/feed/listen-check.js';
import { syntheticMap } from '../sim/synthetic.js';
import type { TaskView } from '../../src/model/task-runtime.js';

const view = (over: Partial<TaskView> = {}): TaskView => ({ number: 1, project: 'p', engine: 'cslide', name: 't', type: 'pid', value: '1', started: true, ...over });
const counters = { clients: 0, droppedUpdates: 0, slowClientsDropped: 0, deadClientsDropped: 0, rejectedUpgrades: 0, maxClientBufferedBytes: 0 };
const proc = { cpuSecondsTotal: 1.5, residentMemoryBytes: 1000, heapUsedBytes: 10, startTimeSeconds: 5 };

describe('feed heat strip', () => {
  test('buckets over the VMAs laid end to end: present, swapped, access percent', () => {
    // 8 pages of 4 KiB: [loop 4] counts 4,4,0,0, swapped, swapped, untouched, 2
    const map = syntheticMap([
      { accessCount: 4, node: 0 }, { accessCount: 4, node: 0 }, { accessCount: 0, node: 1 }, { accessCount: 0, node: 1 },
      { accessCount: 0, node: -1, present: false, swapped: true }, { accessCount: 0, node: -1, present: false, swapped: true },
      { accessCount: 0, node: -1, present: false, swapped: false }, { accessCount: 2, node: 0 },
    ], { loop: 4, pageSizeBytes: 4096 });
    const s = heatStrip(map, 4); // 2 pages per bucket
    assert.equal(s.totalBytes, 8 * 4096);
    assert.equal(s.bucketBytes, 8192);
    assert.deepEqual(s.present, [100, 100, 0, 50]);
    assert.deepEqual(s.swapped, [0, 0, 100, 0]);
    assert.deepEqual(s.access, [100, 0, -1, 50]);
    assert.deepEqual(mapTotals(map), { presentBytes: 5 * 4096, swappedBytes: 2 * 4096 });
  });
  test('summarizeMap: the strip and the totals in one pass', () => {
    const map = syntheticMap([
      { accessCount: 4, node: 0 }, { accessCount: 0, node: -1, present: false, swapped: true },
      { accessCount: 0, node: -1, present: false, swapped: false }, { accessCount: 2, node: 1 },
    ], { loop: 4, pageSizeBytes: 4096 });
    const s = summarizeMap(map, 2);
    assert.deepEqual(s.heat, heatStrip(map, 2));
    assert.deepEqual({ presentBytes: s.presentBytes, swappedBytes: s.swappedBytes }, mapTotals(map));
    assert.deepEqual({ presentBytes: s.presentBytes, swappedBytes: s.swappedBytes }, { presentBytes: 2 * 4096, swappedBytes: 4096 });
  });
  test('the observer gives migrate-hints the present ranges of the last cycle only', async () => {
    const big = syntheticMap([{ accessCount: 1, node: 0 }, { accessCount: 0, node: -1, present: false, swapped: true }, { accessCount: 0, node: 0 }, { accessCount: 1, node: 0 }], { pid: 7, loop: 1, pageSizeBytes: 4096 });
    const small = syntheticMap([{ accessCount: 1, node: 1 }], { pid: 7, loop: 1, pageSizeBytes: 4096 });
    let next: AccessMap = big;
    const scans = new ScanObserver();
    const task = { config: { project: 'p', engine: 'cslide', name: 't', type: 'pid', value: '7', params: {} } } as unknown as EngineTask;
    const tracker = await scans.wrapTracker(task, { name: 'synthetic', scanCycle: async () => next, close: async () => undefined });
    await tracker.scanCycle({ pid: 7 } as ScanTarget, { loop: 1, intervalMs: 1 });
    assert.equal(scans.accessForPid(7)?.ranges.length, 3);
    next = small;
    await tracker.scanCycle({ pid: 7 } as ScanTarget, { loop: 1, intervalMs: 1 });
    assert.deepEqual(scans.accessForPid(7)?.ranges, [[small.ranges.get(0).start, 1, 4096, 1]]);
    assert.equal(scans.get(taskKey(task.config))?.presentBytes, 4096);
  });
  test('more buckets than pages are clamped', () => {
    const map = syntheticMap([{ accessCount: 1, node: 0 }], { loop: 1, pageSizeBytes: 4096 });
    assert.equal(heatStrip(map, 128).present.length, 1);
  });
});

describe('feed protocol', () => {
  test('subscribe forms', () => {
    assert.equal(parseClientMessage('{"type":"subscribe"}').subscription.all, true);
    const s = parseClientMessage('{"type":"subscribe","tasks":["p/cslide/a","b"],"domains":["vm1"]}').subscription;
    assert.equal(s.all, false);
    assert.ok(subscribed(s, { key: 'p/cslide/a', name: 'a' }));
    assert.ok(subscribed(s, { key: 'q/slide/b', name: 'b' }));
    assert.ok(subscribed(s, { key: 'x/y/z', name: 'z', domain: 'vm1' }));
    assert.ok(!subscribed(s, { key: 'x/y/z', name: 'z', domain: 'vm2' }));
  });
  test('errors name the field', () => {
    const field = (text: string): string => {
      try { parseClientMessage(text); } catch (e) { assert.ok(e instanceof FeedProtocolError); return e.field; }
      assert.fail('accepted ' + text);
    };
    assert.equal(field('nope'), 'message');
    assert.equal(field('null'), 'message');
    assert.equal(field('{"type":1}'), 'type');
    assert.equal(field('{"type":"subscribe","tasks":[null]}'), 'tasks[0]');
    assert.equal(field(JSON.stringify({ type: 'subscribe', tasks: Array(2000).fill('a') })), 'tasks');
  });
});

describe('task keys', () => {
  test('names holding "/" or "%" cannot collide; plain names read as before', () => {
    assert.equal(taskKey({ project: 'p', engine: 'cslide', name: 'vm1' }), 'p/cslide/vm1');
    const tuples = [
      { project: 'a/b', engine: 'slide', name: 'c' },
      { project: 'a', engine: 'b/slide', name: 'c' },
      { project: 'a', engine: 'b', name: 'slide/c' },
      { project: 'a%2Fb', engine: 'slide', name: 'c' },
      { project: 'a%', engine: '2Fb/slide', name: 'c' },
    ];
    const keys = tuples.map(taskKey);
    assert.equal(new Set(keys).size, tuples.length, keys.join(' '));
    assert.equal(keys[0], 'a%2Fb/slide/c');
    // The documented decoding gives the tuple back (docs/feed.md).
    for (const [i, key] of keys.entries()) {
      const [project, engine, name] = key.split('/').map(decodeURIComponent);
      assert.deepEqual({ project, engine, name }, tuples[i]);
    }
  });
});

describe('feed snapshot', () => {
  test('cslide stats become a task entry; junk fields are left out', () => {
    const u = taskUpdate(view({ statsTimeMs: 5, stats: { round: 3, tracker: 'damon-vaddr', pids: [9, 'x'], nodes: { 0: { usedBytes: 10, hotBytes: 4, coldBytes: 6 }, bad: {}, 2: 'junk' }, promotedBytes: 2, demotedBytes: 1, totalPromotedBytes: 7, movedInBytesByNode: { 0: 2, 2: 'x' }, errorsByErrno: { ENOMEM: 3, EBUSY: 'x' }, errors: { 9: 'boom' } } }), undefined);
    assert.equal(u.key, 'p/cslide/t');
    assert.equal(u.state, 'running');
    assert.deepEqual(u.pids, [9]);
    assert.deepEqual(u.nodes, [{ node: 0, usedBytes: 10, hotBytes: 4, coldBytes: 6 }]);
    assert.deepEqual(u.moves, { promotedBytes: 2, demotedBytes: 1, totalPromotedBytes: 7, movedInBytesByNode: { 0: 2 } });
    assert.deepEqual(u.errors.moverByErrno, { ENOMEM: 3 });
    assert.deepEqual(u.errors.cycle, { 9: 'boom' });
    assert.equal(u.engineStats, undefined);
  });
  test('ended, domain, thirdparty stats (bounded)', () => {
    const u = taskUpdate(view({ engine: 'watch', type: 'domain', value: 'vm1', started: false, ended: 'target exited (ESRCH)', stats: { rssKiB: 5 } }), undefined);
    assert.equal(u.state, 'ended');
    assert.equal(u.domain, 'vm1');
    assert.deepEqual(u.engineStats, { rssKiB: 5 });
    assert.equal(taskUpdate(view({ engine: 'watch', stats: { big: 'x'.repeat(10000) } }), undefined).engineStats, undefined);
    // a round that left a migrating guest alone says so (src/virt/migration-holds.ts)
    assert.deepEqual(taskUpdate(view({ stats: { pids: [], held: { 4242: 'migrating-out', 7: 3 } } }), undefined).held, { 4242: 'migrating-out' });
    assert.equal(taskUpdate(view({ stats: { pids: [9] } }), undefined).held, undefined);
  });
});

describe('feed metrics', () => {
  test('move errors are counted once per round; labels are escaped', () => {
    const m = new MoveErrorCounters();
    const u = taskUpdate(view({ name: 'we"ird\\name', statsTimeMs: 1, stats: { errorsByErrno: { ENOMEM: 2 } } }), undefined);
    m.observe(u);
    m.observe(u); // same round seen twice
    m.observe(taskUpdate(view({ name: 'we"ird\\name', statsTimeMs: 2, stats: { errorsByErrno: { ENOMEM: 1, EACCES: 4 } } }), undefined));
    const text = renderMetrics([u], m, counters, proc);
    assert.match(text, /^virt_tier_task_move_errors_total\{project="p",engine="cslide",task="we\\"ird\\\\name",errno="ENOMEM"\} 3$/m);
    assert.match(text, /^virt_tier_task_move_errors_total\{.*errno="EACCES"\} 4$/m);
    assert.match(text, /^process_cpu_seconds_total 1.5$/m);
    assert.equal(text.match(/^# TYPE virt_tier_feed_clients_dropped_total counter$/gm)?.length, 1, 'one TYPE line per metric');
  });
});

describe('feed task entries', () => {
  test('a scrape reads the tasks and their move errors without the feed JSON; the timer refresh makes it', () => {
    let v = view({ statsTimeMs: 1, stats: { errorsByErrno: { EBUSY: 1 } } });
    const entries = new TaskEntries({ tasks: () => [{ view: () => v } as unknown as TaskRuntime] }, { debug() {}, info() {}, warn() {}, error() {} });
    assert.equal(entries.refreshUpdates().length, 1);
    assert.equal(entries.entries.size, 0);
    assert.deepEqual(entries.moveErrors.get('p/cslide/t'), { EBUSY: 1 });
    entries.refresh();
    assert.equal(entries.entries.get('p/cslide/t')?.version, 1);
    v = view({ statsTimeMs: 2, stats: { round: 2 } });
    entries.refreshUpdates();
    assert.equal(entries.entries.get('p/cslide/t')?.version, 1, 'a scrape leaves the entries alone');
    assert.equal(entries.lastUpdates[0]?.round, 2);
    entries.refresh();
    assert.equal(entries.entries.get('p/cslide/t')?.version, 2);
  });
});

describe('feed listen rules', () => {
  test('loopback forms', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com']) assert.ok(!isLoopbackHost(h), h);
  });
  test('wider listeners need a token of 16+ characters', () => {
    assert.doesNotThrow(() => checkListen({ host: '127.0.0.1', port: 0 }, undefined));
    assert.throws(() => checkListen({ host: '0.0.0.0', port: 8080 }, undefined), /--http-token/);
    assert.throws(() => checkListen({ host: '0.0.0.0', port: 8080 }, 'short'), (e: { field?: string }) => e.field === '--http-token-file');
    assert.throws(() => checkListen({ host: '127.0.0.1', port: 70000 }, undefined), (e: { field?: string }) => e.field === '--http');
    assert.doesNotThrow(() => checkListen({ host: '0.0.0.0', port: 8080 }, 'x'.repeat(16)));
  });
  test('token sources and comparison', () => {
    const url = new URL('http://h/feed?token=abc');
    assert.equal(requestToken({}, url), 'abc');
    assert.equal(requestToken({ authorization: 'Bearer xyz' }, url), 'xyz');
    assert.equal(requestToken({ authorization: 'Basic xyz' }, url), '');
    assert.ok(tokenMatches('abc', 'abc'));
    assert.ok(!tokenMatches('abc', 'abd'));
    assert.ok(!tokenMatches('abc', undefined));
  });
});
