/**
 * The daemon's own config file (default /etc/virt-tier/virt-tier.conf, the
 * `--config` flag): loaded at start and again on SIGHUP, all-or-nothing.
 *
 * A reload reads and validates the whole file, diffs it against what the
 * file contributed last time, and applies the difference as one registry
 * change (`Registry.replace`, under the registry's mutex): objects gone
 * from the file are removed, new ones added, changed ones removed and
 * added again (a changed project keeps its started state). A file that
 * does not parse, or a change the registry refuses, leaves everything
 * running as it was, and the log says why. Objects added at run time by
 * `virt-tier obj add` are not the file's and a reload leaves them alone
 * (unless they live under a project the file removes or changes).
 *
 * Kept apart from main.ts so the signal wiring there stays one line.
 */
import { stat } from 'node:fs/promises';
import { readHostFacts } from '../model/host-facts.js';
import type { ConfigDocument, EngineConfig, ProjectConfig, TaskConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ChangeSummary } from '../model/registry.js';
import { engineKey } from '../runner/registry.js';

export const EMPTY_DOCUMENT: ConfigDocument = { projects: [], engines: [], tasks: [], warnings: [] };

/** A document's objects as JSON with `source` (line numbers) dropped and keys sorted: equal text, equal object. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => {
    if (key === 'source') return undefined;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.keys(v as Record<string, unknown>).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
}

export interface DocumentDiff {
  /** what to take out first: whole changed/removed projects, engines, tasks (never an object under one already listed) */
  remove: ConfigDocument;
  /** what to put in: new or changed objects with everything under them */
  add: ConfigDocument;
  /** names, for the log: `project`, `project/engine`, `project/engine/task` */
  added: string[];
  removed: string[];
  changed: string[];
}

/** What turns `before` into `after`, object by object (pure; the daemon's reload applies it). */
export function diffDocuments(before: ConfigDocument, after: ConfigDocument): DocumentDiff {
  const projectKey = (p: ProjectConfig): string => p.name;
  const engKey = (e: EngineConfig): string => `${e.project}/${engineKey(e)}`;
  const taskKey = (t: TaskConfig): string => `${t.project}/${t.engine}/${t.name}`;
  const byKey = <T>(items: T[], key: (x: T) => string): Map<string, T> => new Map(items.map((x) => [key(x), x]));
  const oldP = byKey(before.projects, projectKey);
  const newP = byKey(after.projects, projectKey);
  const oldE = byKey(before.engines, engKey);
  const newE = byKey(after.engines, engKey);
  const oldT = byKey(before.tasks, taskKey);
  const newT = byKey(after.tasks, taskKey);

  const diff: DocumentDiff = { remove: { projects: [], engines: [], tasks: [] }, add: { projects: [], engines: [], tasks: [], warnings: after.warnings ?? [] }, added: [], removed: [], changed: [] };
  // A project that is removed or replaced takes its engines and tasks with it.
  const replacedProjects = new Set<string>();
  for (const [k, p] of oldP) {
    const next = newP.get(k);
    if (next && canonical(next) === canonical(p)) continue;
    diff.remove.projects.push(p);
    replacedProjects.add(k);
    (next ? diff.changed : diff.removed).push(k);
  }
  for (const [k, p] of newP) {
    if (!oldP.has(k)) diff.added.push(k);
    if (!oldP.has(k) || replacedProjects.has(k)) diff.add.projects.push(p);
  }
  const replacedEngines = new Set<string>();
  for (const [k, e] of oldE) {
    const next = newE.get(k);
    if (replacedProjects.has(e.project)) {
      replacedEngines.add(k);
      if (!next) diff.removed.push(k);
      continue;
    }
    if (next && canonical(next) === canonical(e)) continue;
    diff.remove.engines.push(e);
    replacedEngines.add(k);
    (next ? diff.changed : diff.removed).push(k);
  }
  for (const [k, e] of newE) {
    if (!oldE.has(k)) diff.added.push(k);
    if (!oldE.has(k) || replacedEngines.has(k)) diff.add.engines.push(e);
  }
  // A task sits under its engine; `t.engine` is the engine's key within the project.
  const engineOfTask = (t: TaskConfig): string => `${t.project}/${t.engine}`;
  for (const [k, t] of oldT) {
    const next = newT.get(k);
    if (replacedEngines.has(engineOfTask(t))) {
      if (!next) diff.removed.push(k);
      continue;
    }
    if (next && canonical(next) === canonical(t)) continue;
    diff.remove.tasks.push(t);
    (next ? diff.changed : diff.removed).push(k);
    if (next) diff.add.tasks.push(next);
  }
  for (const [k, t] of newT) {
    if (!oldT.has(k)) {
      diff.added.push(k);
      diff.add.tasks.push(t);
    } else if (replacedEngines.has(engineOfTask(t))) {
      diff.add.tasks.push(t);
    }
  }
  // Keep file order for what is added: engines after their projects, tasks after their engines (the registry checks in that order).
  const order = <T>(items: T[], all: T[]): T[] => all.filter((x) => items.includes(x));
  diff.add.projects = order(diff.add.projects, after.projects);
  diff.add.engines = order(diff.add.engines, after.engines);
  diff.add.tasks = order(diff.add.tasks, after.tasks);
  return diff;
}

export interface ReloadParts {
  /** the config file; undefined with --no-config */
  file: string | undefined;
  /** false for the built-in default path: a missing default file means "no objects", not an error */
  explicit: boolean;
  /** reads and validates the file (the daemon passes loadConfigFile with fresh host facts) */
  load(file: string): Promise<ConfigDocument>;
  registry: { replace(remove: ConfigDocument, add: ConfigDocument): Promise<ChangeSummary> };
  log: Logger;
}

export type ReloadOutcome =
  | { ok: true; added: string[]; removed: string[]; changed: string[] }
  | { ok: false; error: string };

/** Loads the config file at start and on every reload; one reload at a time, in order. */
export class ConfigReloader {
  private current: ConfigDocument = EMPTY_DOCUMENT;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly parts: ReloadParts) {}

  /** The objects the file contributed at the last successful load. */
  get applied(): ConfigDocument {
    return this.current;
  }

  /**
   * At start: a missing default file is fine (nothing to load), any other
   * failure is thrown, so the daemon does not come up half-configured.
   */
  async loadAtStart(): Promise<void> {
    const outcome = await this.reload('start');
    if (!outcome.ok && !(outcome.error.startsWith('ENOENT') && !this.parts.explicit)) throw new Error(outcome.error);
  }

  /** Reads, diffs and applies the file; never throws: the outcome says what happened, the log says it too. */
  reload(reason: 'start' | 'SIGHUP'): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.reloadNow(reason));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(reason: 'start' | 'SIGHUP'): Promise<ReloadOutcome> {
    const { file, log } = this.parts;
    if (file === undefined) {
      if (reason === 'SIGHUP') log.info('config reload: no config file (--no-config); nothing to do', {});
      return { ok: true, added: [], removed: [], changed: [] };
    }
    // A missing file (or a missing /etc/virt-tier) is told apart before the load, whose own error is a generic OPT_INVAL.
    const missing = await stat(file).then(
      () => false,
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'ENOTDIR',
    );
    if (missing) {
      if (reason === 'start' && !this.parts.explicit) {
        log.info('no config file; starting with no objects (create it and send SIGHUP to load it)', { file });
      } else {
        log.error(reason === 'start' ? 'cannot load config file' : 'config reload failed; the running state is kept', { file, error: 'the file does not exist' });
      }
      return { ok: false, error: `ENOENT: config file ${file} does not exist` };
    }
    let next: ConfigDocument;
    try {
      next = await this.parts.load(file);
    } catch (err) {
      const e = err as Error & { code?: string };
      const error = `${e.code ? e.code + ': ' : ''}${e.message}`;
      log.error(reason === 'start' ? 'cannot load config file' : 'config reload failed; the running state is kept', { file, error });
      return { ok: false, error };
    }
    const diff = diffDocuments(this.current, next);
    try {
      await this.parts.registry.replace(diff.remove, diff.add);
    } catch (err) {
      const e = err as Error & { code?: string };
      const error = `${e.code ? e.code + ': ' : ''}${e.message}`;
      log.error(reason === 'start' ? 'cannot apply config file' : 'config reload refused; the running state is kept', { file, error });
      return { ok: false, error };
    }
    this.current = next;
    for (const w of next.warnings ?? []) log.warn('config', { file, warning: w });
    log.info(reason === 'start' ? 'loaded config' : 'config reloaded', { file, added: diff.added, removed: diff.removed, changed: diff.changed });
    return { ok: true, added: diff.added, removed: diff.removed, changed: diff.changed };
  }
}

/**
 * SIGHUP reloads (systemd's ExecReload sends it). Returns the remover.
 * The handler's presence also keeps SIGHUP from killing the daemon, Node's
 * default for it.
 */
export function reloadOnSighup(reloader: ConfigReloader, proc: Pick<NodeJS.Process, 'on' | 'off'> = process): () => void {
  const onHup = (): void => void reloader.reload('SIGHUP');
  proc.on('SIGHUP', onHup);
  return () => void proc.off('SIGHUP', onHup);
}

/**
 * main.ts's one hook: loads the daemon's config file (throws when it cannot
 * be applied at start) and reloads it on every SIGHUP from then on.
 */
export async function startConfigReloads(args: { configFile: string | undefined; configExplicit: boolean }, registry: ReloadParts['registry'], log: Logger): Promise<ConfigReloader> {
  const reloader = new ConfigReloader({
    file: args.configFile,
    explicit: args.configExplicit,
    // Host facts afresh each time: node_pair is checked against the nodes the host has now.
    // allowEmpty: a packaged, all-comments virt-tier.conf means "no objects yet".
    // The parsers load with the first file read (src/daemon/main.ts configParser): none with no file.
    load: async (file) => (await import('../config/parse.js')).loadConfigFile(file, await readHostFacts(), { allowEmpty: true }),
    registry,
    log,
  });
  reloadOnSighup(reloader);
  await reloader.loadAtStart();
  return reloader;
}
