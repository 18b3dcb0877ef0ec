/**
 * Test helper: a private zram swap device for the duration of a test
 * (Documentation/admin-guide/blockdev/zram.rst): hot_add, disksize, mkswap,
 * swapon at high priority so MADV_PAGEOUT lands there; removed afterwards.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface ZramSwap {
  device: string;
  /** swapoff and hot_remove */
  remove(): void;
}

/** Creates and enables a zram swap device of `sizeMiB`. */
export function addZramSwap(sizeMiB: number): ZramSwap {
  if (!existsSync('/sys/class/zram-control')) {
    try {
      execFileSync('modprobe', ['zram', 'num_devices=0'], { stdio: 'ignore' });
    } catch {
      throw new Error('zram is not available: /sys/class/zram-control missing and `modprobe zram` failed (run scripts/setup-native.sh)');
    }
  }
  const id = readFileSync('/sys/class/zram-control/hot_add', 'utf8').trim();
  const device = `/dev/zram${id}`;
  const remove = (): void => {
    try {
      execFileSync('swapoff', [device], { stdio: 'ignore' });
    } catch {
      // not swapped on yet
    }
    try {
      writeFileSync('/sys/class/zram-control/hot_remove', id);
    } catch {
      // busy or gone: leave it rather than fail the test's cleanup
    }
  };
  try {
    writeFileSync(`/sys/block/zram${id}/disksize`, `${sizeMiB}M`);
    execFileSync('mkswap', [device], { stdio: 'ignore' });
    execFileSync('swapon', ['-p', '32000', device]);
  } catch (err) {
    remove();
    throw err;
  }
  return { device, remove };
}
