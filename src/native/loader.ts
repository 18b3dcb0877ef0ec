/**
 * Finds and loads the addon, once, on first use. Only src/native/index.ts
 * (the addon's own tests import it) and src/native/kernel.ts (everything
 * else) call loadNative, so unit tests that inject a KernelOps never need
 * the .node file.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from './native.js';
import { toSysError } from './errors.js';

const ADDON_RELATIVE = path.join('build', 'Release', 'virt_tier.node');

/** Where the addon is: $VIRT_TIER_ADDON, else the first build/Release up from this file, else from cwd. */
export function findAddon(): string {
  const fromEnv = process.env.VIRT_TIER_ADDON;
  if (fromEnv) return fromEnv;
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir = start;
    for (;;) {
      const candidate = path.join(dir, ADDON_RELATIVE);
      if (existsSync(candidate)) return candidate;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error(`virt-tier native addon not found (${ADDON_RELATIVE}); run \`npm install\` to build it`);
}

function wrap(binding: NativeBinding): NativeBinding {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(binding as unknown as Record<string, unknown>)) {
    if (typeof fn !== 'function') {
      wrapped[name] = fn;
      continue;
    }
    wrapped[name] = (...args: unknown[]): unknown => {
      let result: unknown;
      try {
        result = (fn as (...a: unknown[]) => unknown)(...args);
      } catch (err) {
        throw toSysError(err);
      }
      if (result instanceof Promise) return result.catch((err: unknown) => { throw toSysError(err); });
      return result;
    };
  }
  return wrapped as unknown as NativeBinding;
}

const require = createRequire(import.meta.url);
let loaded: NativeBinding | undefined;

/** The addon with its errors mapped to SysError (loaded on the first call). */
export function loadNative(): NativeBinding {
  loaded ??= wrap(require(findAddon()) as NativeBinding);
  return loaded;
}
