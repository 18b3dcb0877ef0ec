/**
 * etmem's units, converted once. Users write seconds and MB (etmem's key
 * names and units, kept so etmem files load unchanged); the runtime wants
 * milliseconds and bytes. Every ProjectConfig and CslideEngineConfig is
 * made by the factories here, which attach the converted values as
 * `...Ms` / `...Bytes` fields, so no consumer multiplies by 1000 or 2^20
 * itself.
 *
 * The derived fields are non-enumerable: a config still serializes, logs
 * and compares as the keys the user wrote (JSON, `show`, deepEqual), and
 * they cannot drift from their source. The price: an object spread
 * (`{ ...project, sleep: 5 }`) drops them, so build a changed config with
 * the factory again (`projectConfig({ ...project, sleep: 5 })`).
 */
import type { CslideEngineConfig, ProjectConfig } from './types.js';

/** etmem's MB: 2^20 bytes (etmem multiplies node_mig_quota and node_hot_reserve by 1024 * 1024). */
export const BYTES_PER_MB = 2 ** 20;
export const MS_PER_SECOND = 1000;

/** A project as written: everything but the derived fields. */
export type ProjectFields = Omit<ProjectConfig, 'intervalMs' | 'sleepMs'>;
/** A cslide engine as written: everything but the derived fields. */
export type CslideEngineFields = Omit<CslideEngineConfig, 'nodeMigQuotaBytes' | 'nodeHotReserveBytes'>;

function attach<T extends object, D extends Record<string, number>>(fields: T, derived: D): T & Readonly<D> {
  const out = { ...fields };
  for (const [key, value] of Object.entries(derived)) {
    Object.defineProperty(out, key, { value, enumerable: false, writable: false, configurable: false });
  }
  return out as T & Readonly<D>;
}

/** A ProjectConfig with `intervalMs` and `sleepMs` from `interval` and `sleep` (seconds). */
export function projectConfig(fields: ProjectFields): ProjectConfig {
  return attach(fields, { intervalMs: fields.interval * MS_PER_SECOND, sleepMs: fields.sleep * MS_PER_SECOND });
}

/** A CslideEngineConfig with `nodeMigQuotaBytes` and `nodeHotReserveBytes` from the MB keys. */
export function cslideEngineConfig(fields: CslideEngineFields): CslideEngineConfig {
  return attach(fields, {
    nodeMigQuotaBytes: fields.node_mig_quota * BYTES_PER_MB,
    nodeHotReserveBytes: fields.node_hot_reserve * BYTES_PER_MB,
  });
}
