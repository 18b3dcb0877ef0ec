/**
 * The thirdparty engine: etmem dlopens a C `.so` named by `libname` and
 * looks up `ops_name`; virt-tier runs a JS module and takes the export
 * named `ops_name`. The plugin implements ThirdpartyOps (docs/plugins.md).
 *
 * The daemon runs as root and executes the plugin's code, so the module
 * and every directory above it must be root's alone; its bytes are read
 * once through a checked descriptor and only those bytes run
 * (plugin-file.ts).
 *
 * Each engine's plugin runs in its own worker thread (plugin-host.ts) with
 * a heap limit, and every call into it has a time limit: a plugin that
 * spins, never settles, exits or exhausts its heap ends its own host and
 * its tasks (visibly, with the reason), never the daemon, the registry or
 * other engines. The daemon only ever receives plain data from it.
 */
import { Worker } from 'node:worker_threads';
import type { EngineConfig, ProjectConfig, TaskConfig, ThirdpartyEngineConfig } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import type { Engine, EngineFactory, EngineFactoryContext, EngineTask } from './engine.js';
import { readPluginFile } from './plugin-file.js';
import type { FromHost, HostInit, PluginMethod, ToHost } from './plugin-protocol.js';

/**
 * What a plugin module exports under `ops_name`. Every member is optional,
 * as every operation of etmem's ops table is: an engine without `startTask`
 * is added, its tasks are added but never run, and `project start` of its
 * project answers OPT_INTER_ERR (etmemd_project.c project_start_engine).
 */
export interface ThirdpartyOps {
  /** Validates the engine section's private keys; throw to reject. */
  checkEngineParams?(params: Record<string, string>): void | Promise<void>;
  /** Validates a task's private keys; throw to reject. */
  checkTaskParams?(params: Record<string, string>, task: TaskConfig, project: ProjectConfig): void | Promise<void>;
  /** Called once the engine is added, with its private keys. */
  init?(params: Record<string, string>, ctx: { project: ProjectConfig; log: EngineFactoryContext['log'] }): void | Promise<void>;
  /** Throw (or return a promise that rejects at once) when the task cannot start. */
  startTask?(task: EngineTask): void | Promise<void>;
  stopTask?(taskName: string): void | Promise<void>;
  command?(cmd: string, args: { task?: string; json?: boolean }): unknown;
  close?(): void | Promise<void>;
}

/** The bounds a plugin runs within (docs/plugins.md, "Limits"). */
export interface PluginLimits {
  /** module evaluation and lookup of ops_name */
  loadMs: number;
  initMs: number;
  /** checkEngineParams, checkTaskParams, startTask's synchronous part, stopTask, close */
  callMs: number;
  commandMs: number;
  /** the plugin thread's V8 old-generation heap */
  heapMiB: number;
}

export const DEFAULT_PLUGIN_LIMITS: Readonly<PluginLimits> = Object.freeze({
  loadMs: 10_000,
  initMs: 10_000,
  callMs: 5_000,
  commandMs: 10_000,
  heapMiB: 256,
});

/** A call that could not be answered because the plugin's host is gone. */
class HostGone extends Error {}

function pluginError(cfg: ThirdpartyEngineConfig, what: string, err: unknown, code: 'OPT_INVAL' | 'OPT_INTER_ERR' = 'OPT_INTER_ERR'): VirtTierError {
  const why = err instanceof Error ? err.message : String(err);
  return new VirtTierError(err instanceof HostGone ? 'OPT_INTER_ERR' : code, `thirdparty engine "${cfg.eng_name}" (${cfg.libname}): ${what}: ${why}`, {
    field: `engine "${cfg.eng_name}"`,
  });
}

/** Plain data of a config object for the host (configs are JSON-shaped). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** The daemon's side of one plugin host thread. */
class PluginHost {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private goneReason: string | undefined;
  private lastError: string | undefined;
  private loadedWaiter: ((msg: Extract<FromHost, { t: 'loaded' }> | Error) => void) | undefined;

  constructor(init: HostInit, limits: PluginLimits, private readonly onMessage: (msg: FromHost) => void, private readonly onGone: (reason: string) => void) {
    this.worker = new Worker(new URL('./plugin-host.js', import.meta.url), {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMiB },
    });
    // The daemon's own handles decide when it exits, never a plugin's thread.
    this.worker.unref();
    this.worker.on('message', (msg: FromHost) => this.receive(msg));
    this.worker.on('error', (err) => {
      this.lastError = err.message;
    });
    this.worker.on('exit', (code) => {
      this.die(this.lastError ? `plugin host failed: ${this.lastError}` : `plugin host exited with code ${code}`);
    });
  }

  get gone(): string | undefined {
    return this.goneReason;
  }

  /** Resolves with the host's load report, or rejects after `ms`. */
  loaded(ms: number): Promise<Extract<FromHost, { t: 'loaded' }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.loadedWaiter = undefined;
        const reason = `module did not load within ${ms} ms`;
        this.kill(reason);
        reject(new Error(reason));
      }, ms);
      this.loadedWaiter = (msg) => {
        clearTimeout(timer);
        this.loadedWaiter = undefined;
        if (msg instanceof Error) reject(msg);
        else resolve(msg);
      };
    });
  }

  send(msg: ToHost): void {
    if (this.goneReason === undefined) this.worker.postMessage(msg);
  }

  /** Calls the plugin; after `ms` without an answer the host is ended (it is stuck). */
  call(method: PluginMethod, args: unknown[], ms: number): Promise<unknown> {
    if (this.goneReason !== undefined) return Promise.reject(new HostGone(`plugin host ended: ${this.goneReason}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.kill(`${method} did not return within ${ms} ms`), ms);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ t: 'call', id, method, args } satisfies ToHost);
    });
  }

  /** Ends the host thread at once (terminate interrupts a spinning plugin too). */
  kill(reason: string): void {
    this.die(reason);
    void this.worker.terminate();
  }

  private die(reason: string): void {
    if (this.goneReason !== undefined) return;
    this.goneReason = reason;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new HostGone(`plugin host ended: ${reason}`));
    }
    this.pending.clear();
    this.loadedWaiter?.(new HostGone(`plugin host ended: ${reason}`));
    this.onGone(reason);
  }

  private receive(msg: FromHost): void {
    if (this.goneReason !== undefined) return;
    if (msg.t === 'loaded') {
      this.loadedWaiter?.(msg);
    } else if (msg.t === 'result') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(msg.message));
    } else {
      this.onMessage(msg);
    }
  }
}

class ThirdpartyEngine implements Engine {
  readonly name: string;
  private readonly tasks = new Map<string, EngineTask>();
  readonly host: PluginHost;
  private closed = false;

  constructor(readonly config: ThirdpartyEngineConfig, source: Buffer, private readonly limits: PluginLimits, private readonly ctx: EngineFactoryContext) {
    this.name = config.eng_name;
    this.host = new PluginHost({ source, opsName: config.ops_name }, limits, (msg) => this.receive(msg), (reason) => this.hostGone(reason));
  }

  private hostGone(reason: string): void {
    if (this.closed) return;
    const message = pluginError(this.config, 'plugin host ended', reason).message;
    this.ctx.log.error(message);
    // Every running task of this engine ends with the reason; nothing else does.
    for (const task of this.tasks.values()) task.reportEnded(message);
  }

  private receive(msg: FromHost): void {
    switch (msg.t) {
      case 'stats':
        this.tasks.get(msg.task)?.reportStats(msg.stats);
        break;
      case 'ended':
        this.tasks.get(msg.task)?.reportEnded(msg.reason);
        break;
      case 'startFailed':
        this.failTask(msg.task, new Error(msg.message));
        break;
      case 'resolvePids': {
        const task = this.tasks.get(msg.task);
        if (!task) {
          this.host.send({ t: 'pids', req: msg.req, error: `task "${msg.task}" is not running` });
          break;
        }
        task.resolvePids().then(
          (pids) => this.host.send({ t: 'pids', req: msg.req, pids }),
          (err: unknown) => this.host.send({ t: 'pids', req: msg.req, error: err instanceof Error ? err.message : String(err) }),
        );
        break;
      }
      case 'log': {
        const log = (msg.task !== undefined ? this.tasks.get(msg.task)?.log : undefined) ?? this.ctx.log;
        const level = (['debug', 'info', 'warn', 'error'] as const).includes(msg.level) ? msg.level : 'info';
        log[level](msg.msg, msg.meta);
        break;
      }
    }
  }

  private failTask(name: string, err: unknown): void {
    const task = this.tasks.get(name);
    if (!task || err instanceof HostGone) return; // a gone host has ended every task already
    const e = pluginError(this.config, `startTask("${name}") failed`, err);
    this.ctx.log.error(e.message);
    task.reportEnded(e.message);
  }

  async checkTask(task: TaskConfig, project: ProjectConfig): Promise<void> {
    try {
      await this.host.call('checkTaskParams', [{ ...(task.params as Record<string, string>) }, plain(task), plain(project)], this.limits.callMs);
    } catch (err) {
      throw pluginError(this.config, `task "${task.name}" rejected`, err, 'OPT_INVAL');
    }
  }

  /** etmem's ops table without start_task: the registry never starts this engine's tasks. */
  get canStart(): boolean {
    return this.methods.has('startTask');
  }

  async startTask(task: EngineTask): Promise<void> {
    const name = task.config.name;
    const gone = this.host.gone;
    if (gone !== undefined) throw pluginError(this.config, 'plugin host ended', gone);
    this.tasks.set(name, task);
    const onAbort = (): void => this.host.send({ t: 'abort', task: name });
    task.signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Answered once the plugin's startTask returned (or its promise did not reject at once): a failure here
      // is a task that did not start, which etmem answers with OPT_INTER_ERR.
      await this.host.call('startTask', [plain(task.config), plain(task.project)], this.limits.callMs);
    } catch (err) {
      if (this.tasks.get(name) === task) this.tasks.delete(name);
      task.signal.removeEventListener('abort', onAbort);
      const e = pluginError(this.config, `startTask("${name}") failed`, err);
      this.ctx.log.error(e.message);
      throw e;
    }
  }

  async stopTask(taskName: string): Promise<void> {
    if (!this.tasks.delete(taskName)) return;
    if (this.host.gone !== undefined) return;
    try {
      await this.host.call('stopTask', [taskName], this.limits.callMs);
    } catch (err) {
      this.ctx.log.error(pluginError(this.config, `stopTask("${taskName}") failed`, err).message);
    }
  }

  async command(cmd: string, args: { task?: string; json?: boolean }): Promise<unknown> {
    if (!this.methods.has('command')) {
      throw new VirtTierError('OPT_INVAL', `engine "${this.name}" has no private commands`, { field: 'cmd', value: cmd, allowed: 'none' });
    }
    try {
      return await this.host.call('command', [cmd, { ...args }], this.limits.commandMs);
    } catch (err) {
      throw pluginError(this.config, `command "${cmd}" failed`, err, 'OPT_INVAL');
    }
  }

  /** The members the plugin's ops object has (set once loaded). */
  methods = new Set<string>();

  async close(): Promise<void> {
    for (const name of [...this.tasks.keys()]) await this.stopTask(name);
    if (this.host.gone === undefined) {
      try {
        await this.host.call('close', [], this.limits.callMs);
      } catch (err) {
        this.ctx.log.error(pluginError(this.config, 'close failed', err).message);
      }
    }
    this.abandon('engine closed');
  }

  /** Ends the host without reporting its tasks ended (they are stopped, or were never started). */
  abandon(reason: string): void {
    this.closed = true;
    this.host.kill(reason);
  }
}

/** The thirdparty factory with the given limits (the daemon uses DEFAULT_PLUGIN_LIMITS). */
export function thirdpartyEngineFactory(limits: PluginLimits = DEFAULT_PLUGIN_LIMITS): EngineFactory {
  return async (config: EngineConfig, ctx: EngineFactoryContext): Promise<Engine> => {
    if (config.name !== 'thirdparty') throw new TypeError('createThirdpartyEngine: not a thirdparty engine config');
    const file = readPluginFile(config.libname, `engine "${config.eng_name}".libname`);
    const engine = new ThirdpartyEngine(config, file.source, limits, ctx);
    try {
      let loaded;
      try {
        loaded = await engine.host.loaded(limits.loadMs);
      } catch (err) {
        throw pluginError(config, 'cannot load module', err, 'OPT_INVAL');
      }
      if (loaded.noOps) {
        throw new VirtTierError('OPT_INVAL', `engine "${config.eng_name}".ops_name: module ${config.libname} has no export "${config.ops_name}" that is an engine object`, {
          field: `engine "${config.eng_name}".ops_name`, value: config.ops_name, allowed: 'the name of an exported engine object',
        });
      }
      if (loaded.error !== undefined) throw pluginError(config, 'cannot load module', loaded.error, 'OPT_INVAL');
      engine.methods = new Set(loaded.methods ?? []);
      try {
        await engine.host.call('checkEngineParams', [{ ...config.params }], limits.callMs);
      } catch (err) {
        throw pluginError(config, 'engine parameters rejected', err, 'OPT_INVAL');
      }
      try {
        await engine.host.call('init', [{ ...config.params }, plain(ctx.project)], limits.initMs);
      } catch (err) {
        throw pluginError(config, 'init failed', err);
      }
    } catch (err) {
      engine.abandon('engine not added');
      throw err;
    }
    return engine;
  };
}

export const createThirdpartyEngine: EngineFactory = thirdpartyEngineFactory();
