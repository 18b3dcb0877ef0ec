/**
 * Name-to-factory registry of engines. The daemon's wiring registers the
 * built-in slide and cslide factories with their tracker and mover;
 * thirdparty is always available (a JS module named by the config).
 */
import type { EngineKind } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import type { Engine, EngineFactory, EngineFactoryContext } from './engine.js';
import type { EngineConfig } from '../config/types.js';
import { createThirdpartyEngine } from './thirdparty.js';

const factories = new Map<EngineKind, EngineFactory>([['thirdparty', createThirdpartyEngine]]);

export function registerEngineFactory(kind: EngineKind, factory: EngineFactory): void {
  factories.set(kind, factory);
}

export function registeredEngineKinds(): EngineKind[] {
  return [...factories.keys()];
}

/** Instantiates an engine for `config`; nothing runs until a task starts. */
export async function createEngine(config: EngineConfig, ctx: EngineFactoryContext): Promise<Engine> {
  const factory = factories.get(config.name);
  if (!factory) {
    throw new VirtTierError('OPT_UNSUPPORTED', `engine "${config.name}" is not available in this daemon`, {
      field: 'engine.name',
      value: config.name,
      allowed: registeredEngineKinds().join('|'),
    });
  }
  return factory(config, ctx);
}

/** The key an engine is known by inside its project: `slide`, `cslide` or a thirdparty eng_name. */
export function engineKey(config: EngineConfig): string {
  return config.name === 'thirdparty' ? config.eng_name : config.name;
}
