import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { native, SysError } from '../../src/native/index.js';
import { startPatternChild, pageAddrs } from './native-child.js';

const MPOL_MF_MOVE = 2;
const ENOENT = 2;

/** Online memory nodes from sysfs (node0 on this host). */
function onlineNodes(): number[] {
  return readdirSync('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n)).map((n) => Number(n.slice(4)));
}

describe('movePages', () => {
  test('query: touched pages report their node, untouched pages -ENOENT', async () => {
    const child = await startPatternChild('anon', 64, 2);
    try {
      const status = await native.movePages(child.pid, pageAddrs(child.start, 64), null, 0);
      assert.ok(status instanceof Int32Array);
      assert.equal(status.length, 64);
      const nodes = onlineNodes();
      for (let i = 0; i < 64; i++) {
        if (i % 2 === 0) assert.ok(nodes.includes(status[i]!), `page ${i} on node ${status[i]}`);
        else assert.equal(status[i], -ENOENT, `untouched page ${i}`);
      }
    } finally {
      await child.stop();
    }
  });

  test('query is batched: 40000 pages (more than one 16k batch) all answered', async () => {
    const child = await startPatternChild('anon', 40000, 1);
    try {
      const status = await native.movePages(child.pid, pageAddrs(child.start, 40000), null, 0);
      assert.equal(status.length, 40000);
      assert.ok(status.every((s) => s === 0), 'every page on node 0');
    } finally {
      await child.stop();
    }
  });

  test('move to node 0 succeeds with per-page status 0', async () => {
    const child = await startPatternChild('anon', 32, 1);
    try {
      const status = await native.movePages(child.pid, pageAddrs(child.start, 32), new Int32Array(32), MPOL_MF_MOVE);
      assert.deepEqual([...status], new Array(32).fill(0));
    } finally {
      await child.stop();
    }
  });

  test('move to a nonexistent node rejects with ENODEV', async () => {
    const child = await startPatternChild('anon', 8, 1);
    try {
      const missing = Math.max(...onlineNodes()) + 7;
      await assert.rejects(
        native.movePages(child.pid, pageAddrs(child.start, 8), new Int32Array(8).fill(missing), MPOL_MF_MOVE),
        (err: unknown) => err instanceof SysError && err.code === 'ENODEV' && err.syscall === 'move_pages',
      );
    } finally {
      await child.stop();
    }
  });

  test('a pid that does not exist rejects with ESRCH', async () => {
    await assert.rejects(native.movePages(2147483000, new Float64Array([4096]), null, 0), (err: unknown) => {
      return err instanceof SysError && err.code === 'ESRCH' && err.errno === 3;
    });
  });

  test('bad arguments throw TypeError ERR_INVALID_ARG', () => {
    const bad: unknown[][] = [
      [0, new Float64Array(1), null, 0],
      ['1', new Float64Array(1), null, 0],
      [1, [4096], null, 0],
      [1, new Float64Array([-4096]), null, 0],
      [1, new Float64Array([1.5]), null, 0],
      [1, new Float64Array(2), new Int32Array(1), 2],
      [1, new Float64Array(1), null, 3],
    ];
    for (const args of bad) {
      assert.throws(
        () => (native.movePages as (...a: unknown[]) => unknown)(...args),
        (err: unknown) => err instanceof TypeError && (err as { code?: string }).code === 'ERR_INVALID_ARG' && /usage: movePages/.test(err.message),
        `args ${String(args)}`,
      );
    }
  });
});

describe('move_pages on a task without an mm (a zombie: what a destroyed guest QEMU passes through)', () => {
  /** A zombie: `sleep 0.05` exits, and its parent (sh exec'd into `sleep 30`) never reaps it. */
  async function startZombie(): Promise<{ pid: number; stop: () => void }> {
    const { spawn } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    for (let i = 0; i < 200; i++) {
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
      if (state === 'Z') return { pid, stop: () => parent.kill('SIGKILL') };
      await new Promise((r) => setTimeout(r, 10));
    }
    parent.kill('SIGKILL');
    throw new Error(`process ${pid} never became a zombie`);
  }

  test('the raw syscall answers EINVAL; the kernel door turns it into ESRCH (process gone) for queries and moves', async () => {
    const { liveKernel } = await import('../../src/native/kernel.js');
    const { isProcessGone } = await import('../../src/errors.js');
    const zombie = await startZombie();
    try {
      const addrs = new Float64Array([0x400000]);
      await assert.rejects(native.movePages(zombie.pid, addrs, null, 0), (err: unknown) => err instanceof SysError && err.code === 'EINVAL');
      await assert.rejects(liveKernel.queryPageNodes(zombie.pid, addrs), (err: unknown) => isProcessGone(err));
      await assert.rejects(liveKernel.movePages(zombie.pid, addrs, new Int32Array(1)), (err: unknown) => isProcessGone(err));
    } finally {
      zombie.stop();
    }
  });

  test('an EINVAL for a live process stays EINVAL (only a task without an mm is "gone")', async () => {
    const { kernelOver } = await import('../../src/native/kernel.js');
    const einval = Object.assign(new Error('move_pages: Invalid argument'), { code: 'EINVAL', errno: 22, syscall: 'move_pages' });
    const kernel = kernelOver(() => ({ movePages: () => Promise.reject(einval) }) as never);
    await assert.rejects(kernel.queryPageNodes(process.pid, new Float64Array([0x400000])), (err: unknown) => (err as { code?: string }).code === 'EINVAL');
  });
});
