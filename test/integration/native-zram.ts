/**
 * Test helper: a private zram swap device for the duration of a test
 * (Documentation/admin-guide/blockdev/zram.rst): hot_add, disksize, mkswap,
 * swapon at high priority so MADV_PAGEOUT lands there; removed afterwards.
 *
 * A test run that is killed never removes its device, and a leaked one is
 * the host's highest-priority swap from then on. Each device is recorded
 * under OWNERS_DIR with the pid that made it, and every new one first
 * removes the devices of owners that are gone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** zram id -> the test process that added it (a file per device, its content the pid). */
const OWNERS_DIR = '/run/virt-tier-test-zram';

function removeDevice(id: string): void {
  try {
    execFileSync('swapoff', [`/dev/zram${id}`], { stdio: 'ignore' });
  } catch {
    // not swapped on yet
  }
  try {
    writeFileSync('/sys/class/zram-control/hot_remove', id);
  } catch {
    // busy or gone: leave it rather than fail the test's cleanup
  }
}

/** Removes the devices whose recorded owner no longer runs; returns their ids. */
export function reapLeakedZram(): string[] {
  const reaped: string[] = [];
  if (!existsSync(OWNERS_DIR)) return reaped;
  for (const id of readdirSync(OWNERS_DIR)) {
    const owner = Number(readFileSync(`${OWNERS_DIR}/${id}`, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && existsSync(`/proc/${owner}`)) continue;
    if (existsSync(`/sys/block/zram${id}`)) removeDevice(id);
    rmSync(`${OWNERS_DIR}/${id}`, { force: true });
    reaped.push(id);
  }
  return reaped;
}

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
  reapLeakedZram();
  const id = readFileSync('/sys/class/zram-control/hot_add', 'utf8').trim();
  const device = `/dev/zram${id}`;
  mkdirSync(OWNERS_DIR, { recursive: true });
  writeFileSync(`${OWNERS_DIR}/${id}`, String(process.pid));
  const remove = (): void => {
    removeDevice(id);
    rmSync(`${OWNERS_DIR}/${id}`, { force: true });
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
