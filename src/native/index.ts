/**
 * The raw addon, typed, for the addon's own tests and benchmarks. Daemon
 * and CLI code reaches the kernel through src/native/kernel.ts (KernelOps),
 * the one module that imports the addon; errors it throws are SysError.
 */
import type { NativeBinding } from './native.js';
import { loadNative } from './loader.js';

export type { NativeBinding, PeerCred, PagemapScanResult, PagemapScanCounts, IdlePagesRead, PageStatesResult } from './native.js';
export { SysError, isErrno, toSysError } from './errors.js';
export { findAddon } from './loader.js';

export const native: NativeBinding = loadNative();
