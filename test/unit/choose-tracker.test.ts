import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseTracker, createTracker, TRACKER_NAMES } from '../../src/scan/choose-tracker.js';
import { DEFAULT_TRACKERS } from '../../src/scan/trackers.js';
import { MemoryIO, RecordingIO, rootedIO, type KernelFileIO } from '../../src/platform/io.js';
import { kernelOver, recordingKernel, type KernelOps } from '../../src/native/kernel.js';
import { VirtTierError } from '../../src/errors.js';
import type { TrackerEntry } from '../../src/scan/tracker.js';

// dist/test/unit -> the source tree's fixtures
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/platform');
const BITMAP = '/sys/kernel/mm/page_idle/bitmap';

const IDLE_PAGES_MISSING = 'idle-pages: /proc/PID/idle_pages is missing: it needs an openEuler kernel with the etmem_scan module (modprobe etmem_scan)';
const PAGE_IDLE_MISSING = `page-idle: ${BITMAP}: ENOENT: page_idle needs a kernel built with CONFIG_IDLE_PAGE_TRACKING, and root`;

/** A kernel whose every call fails the test: probes must not reach the addon. */
const noKernel: KernelOps = kernelOver(() => assert.fail('a probe reached the addon'));

/** A recorded tree with a few files laid over it (what the capture lacks). */
function overlay(base: KernelFileIO, top: MemoryIO): KernelFileIO {
  const pick = async (p: string): Promise<KernelFileIO> => ((await top.exists(p)) ? top : base);
  return {
    readText: async (p) => (await pick(p)).readText(p),
    readDir: async (p) => (await pick(p)).readDir(p),
    writeText: async (p, t) => (await pick(p)).writeText(p, t),
    exists: async (p) => (await top.exists(p)) || base.exists(p),
    readBytes: async (p, pos, len) => (await pick(p)).readBytes(p, pos, len),
    writeBytes: async (p, pos, data) => (await pick(p)).writeBytes(p, pos, data),
  };
}

async function unsupported(choice: 'auto' | (typeof TRACKER_NAMES)[number], engine: 'slide' | 'cslide', io: KernelFileIO): Promise<VirtTierError> {
  try {
    await chooseTracker(choice, engine, { io, kernel: noKernel });
  } catch (err) {
    assert.ok(err instanceof VirtTierError);
    assert.equal(err.code, 'OPT_UNSUPPORTED');
    return err;
  }
  return assert.fail(`${choice} for ${engine} was chosen`);
}

describe('choose-tracker on recorded kernels', () => {
  test('the default list is the documented order and the --tracker names', () => {
    assert.deepEqual(DEFAULT_TRACKERS.map((t) => t.name), [...TRACKER_NAMES]);
    assert.deepEqual(DEFAULT_TRACKERS.map((t) => [t.name, [...t.engines]]), [['idle-pages', ['slide', 'cslide']], ['damon-vaddr', ['slide', 'cslide']], ['page-idle', ['slide']], ['damon-paddr', ['slide', 'cslide']]]);
  });

  test('host-6.18 (DAMON paddr only, a foreign paddr kdamond runs, no page_idle, no etmem): damon-paddr, shared, for both engines, from reads only', async () => {
    const io = new RecordingIO(rootedIO(path.join(FIXTURES, 'host-6.18')));
    const { kernel, calls } = recordingKernel(noKernel);
    for (const engine of ['slide', 'cslide'] as const) {
      const { entry, probes } = await chooseTracker('auto', engine, { io, kernel });
      assert.equal(entry.name, 'damon-paddr');
      const paddr = probes.find((p) => p.name === 'damon-paddr')!;
      assert.match(paddr.reason, /^shared, read-only: kdamond 0 \(pid \d+\) of another DAMON user monitors 4\.0-\d+\.\d GiB physical/);
    }
    assert.deepEqual(io.mutations(), [], 'probing writes nothing (the other user\'s kdamond is never touched)');
    assert.deepEqual(calls, [], 'probing makes no kernel calls');
    // Forcing a tracker the kernel lacks names what is missing.
    const forced = await unsupported('damon-vaddr', 'slide', io);
    assert.match(forced.message, /damon-vaddr: DAMON has no vaddr operations \(this kernel offers: paddr\); it needs CONFIG_DAMON_VADDR/);
    assert.equal(forced.allowed, 'damon-paddr');
  });

  test('testbed-6.12 (no kdamond, no kallsyms captured): a read-only probe cannot see vaddr, so nothing', async () => {
    const io = rootedIO(path.join(FIXTURES, 'testbed-6.12'));
    const damon = 'damon-vaddr: DAMON has no vaddr operations (this kernel offers: none); it needs CONFIG_DAMON_VADDR';
    assert.match((await unsupported('auto', 'slide', io)).message, new RegExp(`\\(${IDLE_PAGES_MISSING.replace(/[()]/g, '\\$&')}; ${damon.replace(/[()]/g, '\\$&')}; page-idle: `));
    const paddr = 'damon-paddr: DAMON has no paddr operations (this kernel offers: none); it needs CONFIG_DAMON_PADDR';
    assert.equal((await unsupported('auto', 'cslide', io)).message, `no access tracker for cslide on this kernel (${IDLE_PAGES_MISSING}; ${damon}; ${paddr}); run \`virt-tier host-validate\``);
  });

  test('testbed-6.12 plus a /proc/kallsyms naming the vaddr code (not in the capture): damon-vaddr for both engines, from reads only', async () => {
    const io = new RecordingIO(overlay(rootedIO(path.join(FIXTURES, 'testbed-6.12')), new MemoryIO({ '/proc/kallsyms': 'ffffffff81234560 t damon_va_check_accesses\nffffffff81234990 t damon_pa_check_accesses\n' })));
    const { kernel, calls } = recordingKernel(noKernel);
    for (const engine of ['slide', 'cslide'] as const) {
      const { entry, probes } = await chooseTracker('auto', engine, { io, kernel });
      assert.equal(entry.name, 'damon-vaddr');
      assert.deepEqual(probes.map((p) => [p.name, p.available]), [['idle-pages', false], ['damon-vaddr', true], ['page-idle', false], ['damon-paddr', false]]);
    }
    assert.deepEqual(io.mutations(), [], 'probing writes nothing');
    assert.deepEqual(calls, [], 'probing makes no kernel calls');
    assert.deepEqual(io.ops.slice(0, 6).map((o) => [o.op, o.path.replace(/^\/proc\/\d+\//, '/proc/PID/')]), [
      ['exists', '/proc/PID/idle_pages'],
      ['exists', '/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds'],
      ['readText', '/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds'],
      ['exists', '/proc/kallsyms'],
      ['readText', '/proc/kallsyms'],
      ['readBytes', BITMAP],
    ]);
  });

  test('host-6.18 with a page_idle bitmap: page-idle for slide (before damon-paddr), damon-paddr for cslide; forcing page-idle for cslide says it does not apply', async () => {
    const io = new RecordingIO(overlay(rootedIO(path.join(FIXTURES, 'host-6.18')), new MemoryIO({}, { blobs: { [BITMAP]: new Uint8Array(64) } })));
    const { entry } = await chooseTracker('auto', 'slide', { io, kernel: noKernel });
    assert.equal(entry.name, 'page-idle');
    assert.equal((await chooseTracker('auto', 'cslide', { io, kernel: noKernel })).entry.name, 'damon-paddr');
    const forced = await unsupported('page-idle', 'cslide', io);
    assert.equal(forced.message, 'no access tracker for cslide on this kernel (page-idle does not apply to cslide); run `virt-tier host-validate`');
    assert.equal(forced.value, 'page-idle');
    assert.equal(forced.allowed, 'page-idle|damon-paddr');
    const forcedDamon = await unsupported('damon-vaddr', 'slide', io);
    assert.equal(forcedDamon.message, 'no access tracker for slide on this kernel (damon-vaddr: DAMON has no vaddr operations (this kernel offers: paddr); it needs CONFIG_DAMON_VADDR); run `virt-tier host-validate`');
    assert.equal(forcedDamon.allowed, 'page-idle|damon-paddr');
    assert.deepEqual(io.mutations(), [], 'probing writes nothing');
  });

  test('the chooser takes its list as a parameter and never names a tracker itself', async () => {
    const made: string[] = [];
    const fake = (name: string, available: boolean, engines: Array<'slide' | 'cslide'>): TrackerEntry => ({
      name,
      engines,
      probe: async () => ({ name, available, reason: available ? '' : `${name} is absent` }),
      create: async () => {
        made.push(name);
        return { name, scanCycle: () => Promise.reject(new Error('unused')), close: async () => undefined };
      },
    });
    const trackers = [fake('a', false, ['slide', 'cslide']), fake('b', true, ['slide']), fake('c', true, ['slide', 'cslide'])];
    const io = new MemoryIO();
    assert.equal((await createTracker('auto', 'slide', { trackers, io, kernel: noKernel })).name, 'b');
    assert.equal((await createTracker('auto', 'cslide', { trackers, io, kernel: noKernel })).name, 'c');
    assert.deepEqual(made, ['b', 'c']);
  });
});
