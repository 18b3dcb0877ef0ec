/**
 * The thirdparty engine: etmem dlopens a C `.so` named by `libname` and
 * looks up `ops_name`; virt-tier imports a JS module and takes the export
 * named `ops_name`. The plugin implements ThirdpartyOps (docs/plugins.md).
 *
 * The daemon runs as root and executes the plugin's code, so the module
 * must be an absolute path to a regular file owned by root and not
 * writable by group or others (the same rule as the config file's owner).
 * A plugin that throws or rejects never takes the daemon down: every call
 * is wrapped, and errors become VirtTierError naming the plugin.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EngineConfig, ProjectConfig, TaskConfig, ThirdpartyEngineConfig } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import type { Engine, EngineFactoryContext, EngineTask } from './engine.js';

/** What a plugin module exports under `ops_name`. Every member is optional but `startTask`. */
export interface ThirdpartyOps {
  /** Validates the engine section's private keys; throw to reject. */
  checkEngineParams?(params: Record<string, string>): void;
  /** Validates a task's private keys; throw to reject. */
  checkTaskParams?(params: Record<string, string>, task: TaskConfig, project: ProjectConfig): void;
  /** Called once the engine is added, with its private keys. */
  init?(params: Record<string, string>, ctx: { project: ProjectConfig; log: EngineFactoryContext['log'] }): void | Promise<void>;
  startTask(task: EngineTask): void | Promise<void>;
  stopTask?(taskName: string): void | Promise<void>;
  command?(cmd: string, args: { task?: string; json?: boolean }): unknown;
  close?(): void | Promise<void>;
}

function pluginError(cfg: ThirdpartyEngineConfig, what: string, err: unknown, code: 'OPT_INVAL' | 'OPT_INTER_ERR' = 'OPT_INTER_ERR'): VirtTierError {
  const why = err instanceof Error ? err.message : String(err);
  return new VirtTierError(code, `thirdparty engine "${cfg.eng_name}" (${cfg.libname}): ${what}: ${why}`, {
    field: `engine "${cfg.eng_name}"`,
  });
}

function checkModuleFile(cfg: ThirdpartyEngineConfig): void {
  const field = `engine "${cfg.eng_name}".libname`;
  if (!path.isAbsolute(cfg.libname)) {
    throw new VirtTierError('OPT_INVAL', `${field}: must be an absolute path, got ${JSON.stringify(cfg.libname)}`, {
      field, value: cfg.libname, allowed: 'an absolute path to a root-owned JS module',
    });
  }
  let st;
  try {
    st = statSync(cfg.libname);
  } catch (err) {
    throw new VirtTierError('OPT_INVAL', `${field}: cannot stat ${cfg.libname}: ${(err as NodeJS.ErrnoException).code}`, {
      field, value: cfg.libname, allowed: 'an existing file',
    });
  }
  if (!st.isFile()) {
    throw new VirtTierError('OPT_INVAL', `${field}: ${cfg.libname} is not a regular file`, { field, value: cfg.libname, allowed: 'a regular file' });
  }
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new VirtTierError('OPT_INVAL', `${field}: ${cfg.libname} must be owned by root and not writable by group or others (uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`, {
      field, value: cfg.libname, allowed: 'owner root, mode without g+w and o+w',
    });
  }
}

async function loadOps(cfg: ThirdpartyEngineConfig): Promise<ThirdpartyOps> {
  checkModuleFile(cfg);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(cfg.libname).href)) as Record<string, unknown>;
  } catch (err) {
    throw pluginError(cfg, 'cannot load module', err, 'OPT_INVAL');
  }
  const ops = mod[cfg.ops_name] ?? (mod.default as Record<string, unknown> | undefined)?.[cfg.ops_name];
  if (typeof ops !== 'object' || ops === null || typeof (ops as ThirdpartyOps).startTask !== 'function') {
    throw new VirtTierError('OPT_INVAL', `engine "${cfg.eng_name}".ops_name: module ${cfg.libname} has no export "${cfg.ops_name}" with a startTask function`, {
      field: `engine "${cfg.eng_name}".ops_name`, value: cfg.ops_name, allowed: 'the name of an exported engine object',
    });
  }
  return ops as ThirdpartyOps;
}

class ThirdpartyEngine implements Engine {
  readonly name: string;
  private readonly startedTasks = new Set<string>();

  constructor(readonly config: ThirdpartyEngineConfig, private readonly ops: ThirdpartyOps, private readonly ctx: EngineFactoryContext) {
    this.name = config.eng_name;
  }

  checkTask(task: TaskConfig, project: ProjectConfig): void {
    if (!this.ops.checkTaskParams) return;
    try {
      this.ops.checkTaskParams({ ...(task.params as Record<string, string>) }, task, project);
    } catch (err) {
      throw pluginError(this.config, `task "${task.name}" rejected`, err, 'OPT_INVAL');
    }
  }

  startTask(task: EngineTask): void {
    this.startedTasks.add(task.config.name);
    // A plugin's own failure ends its task, visibly, never the daemon.
    const fail = (err: unknown): void => {
      const e = pluginError(this.config, `startTask("${task.config.name}") failed`, err);
      this.ctx.log.error(e.message);
      task.reportEnded(e.message);
    };
    try {
      const result = this.ops.startTask(task);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  async stopTask(taskName: string): Promise<void> {
    if (!this.startedTasks.delete(taskName)) return;
    try {
      await this.ops.stopTask?.(taskName);
    } catch (err) {
      this.ctx.log.error(pluginError(this.config, `stopTask("${taskName}") failed`, err).message);
    }
  }

  async command(cmd: string, args: { task?: string; json?: boolean }): Promise<unknown> {
    if (!this.ops.command) {
      throw new VirtTierError('OPT_INVAL', `engine "${this.name}" has no private commands`, { field: 'cmd', value: cmd, allowed: 'none' });
    }
    try {
      return await this.ops.command(cmd, args);
    } catch (err) {
      throw pluginError(this.config, `command "${cmd}" failed`, err, 'OPT_INVAL');
    }
  }

  async close(): Promise<void> {
    for (const name of [...this.startedTasks]) await this.stopTask(name);
    try {
      await this.ops.close?.();
    } catch (err) {
      this.ctx.log.error(pluginError(this.config, 'close failed', err).message);
    }
  }
}

export async function createThirdpartyEngine(config: EngineConfig, ctx: EngineFactoryContext): Promise<Engine> {
  if (config.name !== 'thirdparty') throw new TypeError('createThirdpartyEngine: not a thirdparty engine config');
  const ops = await loadOps(config);
  try {
    ops.checkEngineParams?.({ ...config.params });
  } catch (err) {
    throw pluginError(config, 'engine parameters rejected', err, 'OPT_INVAL');
  }
  try {
    await ops.init?.({ ...config.params }, { project: ctx.project, log: ctx.log });
  } catch (err) {
    throw pluginError(config, 'init failed', err);
  }
  return new ThirdpartyEngine(config, ops, ctx);
}
