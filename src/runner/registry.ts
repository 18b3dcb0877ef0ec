/**
 * Name-to-factory registry of engines (memtierd's registry habit). One
 * instance per daemon, injected into the object registry: two daemons or
 * two tests in one process never share factories. thirdparty is always
 * available (a JS module named by the config); the daemon's wiring adds the
 * built-in slide and cslide factories with their tracker and mover.
 */
import type { EngineConfig, EngineKind } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import type { Engine, EngineFactory, EngineFactoryContext } from './engine.js';
import { createThirdpartyEngine } from './thirdparty.js';

export class EngineFactories {
  private readonly factories = new Map<EngineKind, EngineFactory>([['thirdparty', createThirdpartyEngine]]);

  constructor(entries: Partial<Record<EngineKind, EngineFactory>> = {}) {
    for (const [kind, factory] of Object.entries(entries)) if (factory) this.register(kind as EngineKind, factory);
  }

  register(kind: EngineKind, factory: EngineFactory): this {
    this.factories.set(kind, factory);
    return this;
  }

  kinds(): EngineKind[] {
    return [...this.factories.keys()];
  }

  /** Instantiates an engine for `config`; nothing runs until a task starts. */
  async create(config: EngineConfig, ctx: EngineFactoryContext): Promise<Engine> {
    const factory = this.factories.get(config.name);
    if (!factory) {
      throw new VirtTierError('OPT_UNSUPPORTED', `engine "${config.name}" is not available in this daemon`, {
        field: 'engine.name',
        value: config.name,
        allowed: this.kinds().join('|'),
      });
    }
    // etmem: a region project runs only damon engines, and damon needs a region project (etmemd_damon.c
    // is_engs_valid, refused at start there; at add here). Answered as etmem answers engine set-up: OPT_INTER_ERR.
    const region = ctx.project.scan_type === 'region';
    if ((config.name === 'damon') !== region) {
      throw new VirtTierError('OPT_INTER_ERR', region ? `engine "${config.name}": project "${ctx.project.name}" has scan_type=region, which runs only the damon engine` : `engine "damon": project "${ctx.project.name}" has scan_type=page; the damon engine needs scan_type=region`, {
        field: 'engine.name',
        value: config.name,
        allowed: region ? 'damon' : 'slide|cslide|thirdparty',
      });
    }
    return factory(config, ctx);
  }
}

/** The key an engine is known by inside its project: `slide`, `cslide` or a thirdparty eng_name. */
export function engineKey(config: EngineConfig): string {
  return config.name === 'thirdparty' ? config.eng_name : config.name;
}
