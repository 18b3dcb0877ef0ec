/**
 * The one owner of the daemon's kdamonds (issue 15 item 7) on an in-memory
 * DAMON sysfs that behaves as mm/damon/sysfs.c does where the old per-tracker
 * code raced: `nr_kdamonds` is refused (EBUSY) while any kdamond runs and
 * recreates every kdamond directory (contexts wiped); `on` without a
 * context is EINVAL; every operation yields to others first, so concurrent
 * callers interleave as they do on a real, loaded machine.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryIO } from '../../src/platform/io.js';
import { SysError } from '../../src/native/errors.js';
import { ContextKeys, DamonKdamonds } from '../../src/scan/damon-contexts.js';
import { KDAMONDS } from '../../src/scan/damon-sysfs.js';

class DamonSysfs extends MemoryIO {
  /** writes to fail once with EBUSY, as the kernel's mutex_trylock does when another holds damon_sysfs_lock */
  busyOnce = new Set<string>();
  /** every nr_kdamonds write, with how many kdamonds were on at that moment */
  readonly resizes: Array<{ count: number; onAtResize: number }> = [];
  constructor(count: number, extra: Record<string, string> = {}) {
    super({ [`${KDAMONDS}/nr_kdamonds`]: `${count}\n`, ...extra }, { createOnWrite: true });
    for (let i = 0; i < count; i++) this.makeDir(i, extra);
  }
  private makeDir(i: number, keep: Record<string, string> = {}): void {
    this.files.set(`${KDAMONDS}/${i}/state`, keep[`${KDAMONDS}/${i}/state`] ?? 'off\n');
    this.files.set(`${KDAMONDS}/${i}/contexts/nr_contexts`, keep[`${KDAMONDS}/${i}/contexts/nr_contexts`] ?? '0\n');
  }
  private onCount(): number {
    return [...this.files].filter(([p, v]) => /\/kdamonds\/\d+\/state$/.test(p) && v.trim() === 'on').length;
  }
  override async readText(p: string): Promise<string> {
    await new Promise((r) => setImmediate(r));
    return super.readText(p);
  }
  override async writeText(p: string, text: string): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.busyOnce.delete(`${p}=${text}`)) throw new SysError('EBUSY', 16, 'write', p);
    if (p === `${KDAMONDS}/nr_kdamonds`) {
      this.resizes.push({ count: Number(text), onAtResize: this.onCount() });
      if (this.onCount() > 0) throw new SysError('EBUSY', 16, 'write', p);
      for (const key of [...this.files.keys()]) if (key.startsWith(`${KDAMONDS}/`) && /\/kdamonds\/\d+\//.test(key)) this.files.delete(key);
      for (let i = 0; i < Number(text); i++) this.makeDir(i);
    }
    const state = /kdamonds\/(\d+)\/state$/.exec(p);
    if (state) {
      if (!this.files.has(p)) throw new SysError('ENOENT', 2, 'open', p);
      if (text === 'on' && (this.files.get(`${KDAMONDS}/${state[1]}/contexts/nr_contexts`) ?? '0').trim() !== '1') throw new SysError('EINVAL', 22, 'write', p);
    }
    return super.writeText(p, text);
  }
}

/** One task's cycle as a DAMON tracker runs it: claim, write a context and turn on together, run, off. */
async function cycle(io: DamonSysfs, owner: DamonKdamonds, slot: number, runMs: number, key = 'k'): Promise<void> {
  await owner.start(slot, key, async () => {
    await io.writeText(`${KDAMONDS}/${slot}/contexts/nr_contexts`, '1');
    await io.writeText(`${KDAMONDS}/${slot}/contexts/0/operations`, 'vaddr');
  });
  await new Promise((r) => setTimeout(r, runMs));
  await owner.stop(slot);
}

describe('DamonKdamonds: many trackers, one owner', () => {
  test('three tasks started together get three slots and run their cycles without EINVAL/ENOENT/EBUSY', async () => {
    const io = new DamonSysfs(0);
    const owner = new DamonKdamonds(io, { pollMs: 5 });
    const slots = await Promise.all([0, 1, 2].map(async () => {
      const slot = await owner.acquire();
      for (let round = 0; round < 3; round++) await cycle(io, owner, slot, 5);
      return slot;
    }));
    assert.deepEqual([...slots].sort(), [0, 1, 2]);
    assert.deepEqual(io.resizes, [{ count: 8, onAtResize: 0 }], 'one resize, to the pool size, with nothing running');
  });

  test('growing past the pool waits for running cycles to end, never resizes under one, and the wiped contexts are rewritten', async () => {
    const io = new DamonSysfs(0);
    const owner = new DamonKdamonds(io, { poolSize: 2, pollMs: 5 });
    const a = await owner.acquire();
    const b = await owner.acquire();
    let writes = 0;
    const write = async (slot: number): Promise<void> => {
      writes++;
      await io.writeText(`${KDAMONDS}/${slot}/contexts/nr_contexts`, '1');
    };
    await owner.start(a, 'A', () => write(a));
    const generation = owner.generation;
    // A third task arrives while A runs: its claim must wait for A's cycle to end.
    let claimed = -1;
    const third = owner.acquire().then((s) => (claimed = s));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(claimed, -1, 'no slot handed out (no resize) while A runs');
    assert.equal(io.files.get(`${KDAMONDS}/${a}/state`), 'on');
    await owner.stop(a);
    await third;
    assert.equal(claimed, 2);
    assert.ok(io.resizes.every((r) => r.onAtResize === 0), JSON.stringify(io.resizes));
    assert.equal(owner.generation, generation + 1);
    // A's context was wiped by the resize: the next start rewrites it even with the same key.
    await owner.start(a, 'A', () => write(a));
    assert.equal(writes, 2);
    await owner.stop(a);
    // ...and an unchanged context on an untouched layout is not rewritten.
    await owner.start(a, 'A', () => write(a));
    assert.equal(writes, 2);
    await owner.stop(a);
    assert.notEqual(b, a);
  });

  test('a kdamond of another DAMON user is never taken or grown over; the error says what to do', async () => {
    const io = new DamonSysfs(1, { [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n', [`${KDAMONDS}/0/state`]: 'on\n' });
    const owner = new DamonKdamonds(io);
    await assert.rejects(owner.acquire(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EBUSY');
      assert.match(err.message, /kdamond 0 belong to another DAMON user .* growing nr_kdamonds would wipe them; .*damon-paddr tracker, which shares a running paddr kdamond read-only/);
      return true;
    });
    assert.deepEqual(io.resizes, []);
    assert.equal(io.files.get(`${KDAMONDS}/0/state`), 'on\n', 'untouched');
  });

  test('a write the kernel refuses with EBUSY (its trylock on the one DAMON lock) is retried, not a failed cycle', async () => {
    const io = new DamonSysfs(0);
    const owner = new DamonKdamonds(io);
    const slot = await owner.acquire();
    io.busyOnce.add(`${KDAMONDS}/${slot}/state=on`);
    io.busyOnce.add(`${KDAMONDS}/${slot}/state=off`);
    await cycle(io, owner, slot, 1);
    assert.equal(io.busyOnce.size, 0, 'both writes met EBUSY once');
    assert.equal(io.files.get(`${KDAMONDS}/${slot}/state`), 'off');
    // With no time to retry, EBUSY surfaces.
    const impatient = new DamonKdamonds(io, { busyRetryMs: 0 });
    const other = await impatient.acquire();
    io.busyOnce.add(`${KDAMONDS}/${other}/state=on`);
    await assert.rejects(cycle(io, impatient, other, 1), { code: 'EBUSY' });
  });

  test('released slots come back empty and are reused before the pool grows', async () => {
    const io = new DamonSysfs(0);
    const owner = new DamonKdamonds(io, { poolSize: 1 });
    const slot = await owner.acquire();
    await cycle(io, owner, slot, 1);
    await owner.release(slot);
    assert.equal(io.files.get(`${KDAMONDS}/${slot}/contexts/nr_contexts`), '0');
    assert.equal(await owner.acquire(), slot);
    assert.equal(io.resizes.length, 1);
  });

  test('tried-regions commands of several kdamonds wait their turn: the kernel takes one at a time and refuses a second with EBUSY', async () => {
    // As mm/damon/sysfs.c's damon_sysfs_handle_cmd (before damon_call()): one pending command for all
    // kdamonds; the write returns when the kdamond handled it (here: some ms later), a second write
    // meanwhile is EBUSY. With no EBUSY retry at all, the queue alone keeps every command from it.
    let pending = false;
    const log: string[] = [];
    const io = new (class extends DamonSysfs {
      override async writeText(p: string, text: string): Promise<void> {
        if (text !== 'update_schemes_tried_regions') return super.writeText(p, text);
        if (pending) throw new SysError('EBUSY', 16, 'write', p);
        pending = true;
        log.push(`start ${p}`);
        await new Promise((r) => setTimeout(r, 20));
        log.push(`end ${p}`);
        pending = false;
      }
    })(0);
    const owner = new DamonKdamonds(io, { busyRetryMs: 0 });
    const slots = await Promise.all([0, 1, 2].map(() => owner.acquire()));
    await Promise.all(slots.map((slot) => owner.command(() => owner.sysfs.writeText(`${KDAMONDS}/${slot}/state`, 'update_schemes_tried_regions'))));
    assert.deepEqual(log, slots.flatMap((slot) => [`start ${KDAMONDS}/${slot}/state`, `end ${KDAMONDS}/${slot}/state`]), 'one after another, none refused');
    // A command whose task stopped while it waited is dropped, and the queue goes on.
    const stopped = new AbortController();
    const first = owner.command(() => new Promise((r) => setTimeout(r, 10)));
    const dropped = owner.command(async () => assert.fail('must not run'), stopped.signal);
    stopped.abort();
    await first;
    await assert.rejects(dropped, { name: 'AbortError' });
    assert.equal(await owner.command(async () => 'next'), 'next');
  });
});

test('ContextKeys: the same settings and regions give the same key; any changed region, setting or instance another', () => {
  const a = new ContextKeys();
  const r = [{ start: 0x1000, end: 0x3000 }, { start: 0x5000, end: 0x9000 }];
  const k1 = a.of('1/2', r);
  assert.equal(a.of('1/2', r.map((x) => ({ ...x }))), k1, 'equal regions in a new array');
  assert.notEqual(a.of('1/3', r), k1, 'another setting');
  const k2 = a.of('1/2', [r[0]!, { start: 0x5000, end: 0xa000 }]);
  assert.notEqual(k2, k1, 'one end moved');
  const k3 = a.of('1/2', r);
  assert.notEqual(k3, k2, 'back to the first regions: a change again (the slot holds the second ones)');
  assert.notEqual(a.of('1/2', [r[0]!]), k3, 'one region fewer');
  assert.notEqual(a.of('1/2', []), a.of('1/2', [r[0]!]));
  const b = new ContextKeys();
  assert.notEqual(b.of('1/2', r), a.of('1/2', r), 'two trackers never share a key');
});
