/**
 * The object registry: projects, their engines, their tasks, and the
 * lifecycle etmem users know (`obj add|del`, `project start|stop|show`,
 * engine private commands).
 *
 * Changes are all-or-nothing: a document is validated in full against the
 * current state (and engines it adds are instantiated, which for thirdparty
 * engines loads and asks the plugin) before anything is inserted, so a file
 * with one bad section adds nothing. Changes are serialised by a mutex;
 * `show` reads without it, so a slow change never blocks it.
 */
import { checkTaskAgainstProject } from '../config/task-params.js';
import type { ConfigDocument, EngineConfig, ObjectRefs, ProjectConfig, TaskConfig } from '../config/types.js';
import { internalError } from '../config/raw.js';
import { abortError, VirtTierError } from '../errors.js';
import type { Engine } from '../runner/engine.js';
import { EngineFactories, engineKey } from '../runner/registry.js';
import type { Logger } from '../log.js';
import { Mutex } from './mutex.js';
import { TaskRuntime, type TaskView } from './task-runtime.js';
import { createTargetResolver, type TargetResolver } from './targets.js';

interface EngineEntry {
  config: EngineConfig;
  engine: Engine;
  tasks: Map<string, TaskRuntime>;
}

interface ProjectEntry {
  config: ProjectConfig;
  started: boolean;
  engines: Map<string, EngineEntry>;
}

export interface ProjectView {
  name: string;
  started: boolean;
  loop: number;
  interval: number;
  sleep: number;
  engines: string[];
  tasks: TaskView[];
}

export interface ChangeSummary {
  projects: string[];
  engines: string[];
  tasks: string[];
  /** values accepted with a change (e.g. max_threads clamped), to show the user */
  warnings?: string[];
}

/** An engine's key in its project, from its identity alone: the kind, or a thirdparty engine's `eng_name`. */
function refEngineKey(e: ObjectRefs['engines'][number]): string {
  return e.name === 'thirdparty' ? (e.eng_name ?? '') : e.name;
}

function describe(section: string, name: string, source?: { index: number; line?: number }): string {
  const where = source ? ` (${section}[${source.index}]${source.line !== undefined ? `, line ${source.line}` : ''})` : '';
  return `${section} "${name}"${where}`;
}

/** Objects a change removes before it adds: keys `project`, `project\0engine`, `project\0engine\0task`. */
interface Gone {
  projects: Set<string>;
  engines: Set<string>;
  tasks: Set<string>;
}

const NOTHING_GONE: Gone = { projects: new Set(), engines: new Set(), tasks: new Set() };

function goneOf(doc: ConfigDocument): Gone {
  return {
    projects: new Set(doc.projects.map((p) => p.name)),
    engines: new Set(doc.engines.map((e) => `${e.project}\0${engineKey(e)}`)),
    tasks: new Set(doc.tasks.map((t) => `${t.project}\0${t.engine}\0${t.name}`)),
  };
}

/** What a registry is built from: injected, so two registries in one process share nothing. */
export interface RegistryParts {
  /** engine factories; default: thirdparty only */
  engines?: EngineFactories;
  /** resolves task targets to pids; default: /proc only, no libvirt */
  targets?: TargetResolver;
}

export class Registry {
  private readonly projects = new Map<string, ProjectEntry>();
  private readonly mutex = new Mutex();
  /** aborted by shutdown(): a change still in progress (or queued) then gives up before it commits */
  private readonly closing = new AbortController();
  private readonly engines: EngineFactories;
  private readonly targets: TargetResolver;

  constructor(private readonly log: Logger, parts: RegistryParts = {}) {
    this.engines = parts.engines ?? new EngineFactories();
    this.targets = parts.targets ?? createTargetResolver();
  }

  /** Adds every object of `doc`, or nothing. */
  add(doc: ConfigDocument): Promise<ChangeSummary> {
    return this.mutex.run(async () => (await this.prepareAdd(doc, NOTHING_GONE)).commit(new Set(), true));
  }

  /** Throws the AbortError of a closing registry: nothing is added once SIGTERM arrived. */
  private checkOpen(): void {
    if (this.closing.signal.aborted) throw abortError('the daemon is stopping: nothing was added');
  }

  /**
   * Removes the objects named in `remove` and adds those of `add`, as one
   * change: both are checked in full (`add` against the state without
   * `remove`, engines instantiated) before anything is touched, so either
   * all of it happens or none of it. A project removed and added again
   * keeps its started state (a config reload that changes a project's
   * `loop` restarts its tasks, it does not stop them). An object of
   * `remove` that is already gone (deleted by `obj del` since) is skipped:
   * the caller's record of what it added may be older than the state.
   */
  replace(removeRequested: ConfigDocument, add: ConfigDocument): Promise<ChangeSummary> {
    return this.mutex.run(async () => {
      const remove: ConfigDocument = {
        projects: removeRequested.projects.filter((p) => this.projects.has(p.name)),
        engines: removeRequested.engines.filter((e) => this.projects.get(e.project)?.engines.has(engineKey(e))),
        tasks: removeRequested.tasks.filter((t) => this.projects.get(t.project)?.engines.get(t.engine)?.tasks.has(t.name)),
      };
      this.checkDel(remove);
      const gone = goneOf(remove);
      const prepared = await this.prepareAdd(add, gone);
      const wasStarted = new Set(remove.projects.filter((p) => this.projects.get(p.name)?.started).map((p) => p.name));
      await this.commitDel(remove);
      // Old objects are gone by now, so a task that fails to start here is kept, ended with the reason.
      return prepared.commit(wasStarted, false);
    });
  }

  /** Validates `doc` against the state minus `gone` and instantiates its engines; `commit` inserts it (cannot fail on input). */
  private async prepareAdd(doc: ConfigDocument, gone: Gone): Promise<{ commit(startedProjects: Set<string>, undoOnStartFailure: boolean): Promise<ChangeSummary> }> {
    this.checkOpen();
    const liveProject = (name: string): ProjectEntry | undefined => (gone.projects.has(name) ? undefined : this.projects.get(name));
    const liveEngine = (project: string, key: string): EngineEntry | undefined =>
      gone.engines.has(`${project}\0${key}`) ? undefined : liveProject(project)?.engines.get(key);
    const newProjects = new Map<string, ProjectConfig>();
    for (const p of doc.projects) {
      if (liveProject(p.name) || newProjects.has(p.name)) {
        throw new VirtTierError('OPT_PRO_EXISTED', `${describe('project', p.name, p.source)} already exists`, { field: 'project.name', value: p.name });
      }
      newProjects.set(p.name, p);
    }
    const projectConfig = (name: string): ProjectConfig | undefined => liveProject(name)?.config ?? newProjects.get(name);

    // Engines: instantiate (a thirdparty plugin validates its keys here); close them all if anything fails.
    const created: Array<{ project: string; key: string; entry: EngineEntry }> = [];
    const closeCreated = async (): Promise<void> => {
      for (const c of created) await c.entry.engine.close().catch(() => undefined);
    };
    const engineOf = (project: string, key: string): EngineEntry | undefined =>
      liveEngine(project, key) ?? created.find((c) => c.project === project && c.key === key)?.entry;
    try {
      for (const e of doc.engines) {
        const key = engineKey(e);
        const project = projectConfig(e.project);
        if (!project) {
          throw new VirtTierError('OPT_PRO_NOEXIST', `${describe('engine', key, e.source)}: project "${e.project}" does not exist`, { field: 'engine.project', value: e.project });
        }
        if (engineOf(e.project, key)) {
          throw new VirtTierError('OPT_ENG_EXISTED', `${describe('engine', key, e.source)} already exists in project "${e.project}"`, { field: 'engine.name', value: key });
        }
        // etmem answers every failure to set an engine up (a plugin that will not load or rejects its keys) with
        // OPT_INTER_ERR (etmemd_project.c etmemd_project_add_engine).
        const engine = await untilClosing(this.engines.create(e, { project, log: this.log.child({ project: e.project, engine: key }) }), this.closing.signal).catch((err: unknown) => {
          throw err instanceof VirtTierError && err.name !== 'AbortError' ? internalError(err) : err;
        });
        created.push({ project: e.project, key, entry: { config: e, engine, tasks: new Map() } });
      }

      const newTaskKeys = new Set<string>();
      for (const t of doc.tasks) {
        const project = projectConfig(t.project);
        if (!project) {
          throw new VirtTierError('OPT_PRO_NOEXIST', `${describe('task', t.name, t.source)}: project "${t.project}" does not exist`, { field: 'task.project', value: t.project });
        }
        const engine = engineOf(t.project, t.engine);
        if (!engine) {
          throw new VirtTierError('OPT_ENG_NOEXIST', `${describe('task', t.name, t.source)}: engine "${t.engine}" does not exist in project "${t.project}"`, { field: 'task.engine', value: t.engine });
        }
        const taskKey = `${t.project}\0${t.engine}\0${t.name}`;
        if ((engine.tasks.has(t.name) && !gone.tasks.has(taskKey)) || newTaskKeys.has(taskKey)) {
          throw new VirtTierError('OPT_TASK_EXISTED', `${describe('task', t.name, t.source)} already exists in engine "${t.engine}" of project "${t.project}"`, { field: 'task.name', value: t.name });
        }
        newTaskKeys.add(taskKey);
        checkTaskAgainstProject(t, project);
        // A task the engine refuses is OPT_INTER_ERR in etmem (etmemd_project_add_task: the engine's fill_task failed).
        try {
          await engine.engine.checkTask(t, project, { resolvePids: () => this.targets.resolve(t) });
        } catch (err) {
          throw err instanceof VirtTierError ? internalError(err) : err;
        }
      }
      // What an engine's tasks ask of it together (cslide: the DRAM minima fit). virt-tier's own keys, so the
      // engine's OPT_INVAL passes as it is (etmem has no such check to answer like).
      const addedByEngine = new Map<EngineEntry, TaskConfig[]>();
      for (const t of doc.tasks) {
        const engine = engineOf(t.project, t.engine)!;
        addedByEngine.set(engine, [...(addedByEngine.get(engine) ?? []), t]);
      }
      for (const [engine, added] of addedByEngine) {
        if (!engine.engine.checkTaskSet) continue;
        const project = projectConfig(added[0]!.project)!;
        const existing = [...engine.tasks.values()].map((r) => r.config).filter((c) => !gone.tasks.has(`${c.project}\0${c.engine}\0${c.name}`));
        await engine.engine.checkTaskSet(existing, added, project);
      }
      this.checkOpen();
    } catch (err) {
      await closeCreated();
      throw err;
    }

    return {
      commit: async (startedProjects, undoOnStartFailure) => {
        // Nothing below can fail on input; only a task's start can fail (below).
        for (const p of newProjects.values()) this.projects.set(p.name, { config: p, started: startedProjects.has(p.name), engines: new Map() });
        for (const c of created) this.projects.get(c.project)!.engines.set(c.key, c.entry);
        const toStart: TaskRuntime[] = [];
        for (const t of doc.tasks) {
          const project = this.projects.get(t.project)!;
          const entry = project.engines.get(t.engine)!;
          const runtime = new TaskRuntime(t, project.config, entry.engine, this.targets, this.log.child({ project: t.project, task: t.name }));
          entry.tasks.set(t.name, runtime);
          if (project.started) toStart.push(runtime);
        }
        // etmem: a task added to a started project starts at once; if its start fails the add is OPT_INTER_ERR
        // and the task is not kept (etmemd_project.c etmemd_project_add_task). All-or-nothing: the whole
        // document is taken back out.
        const startedNow: TaskRuntime[] = [];
        for (const r of toStart) {
          try {
            await r.start();
            startedNow.push(r);
          } catch (err) {
            if (!undoOnStartFailure) {
              this.log.error('task did not start', { project: r.config.project, task: r.config.name, reason: r.view().ended });
              continue;
            }
            for (const s of startedNow) await s.stop();
            for (const t of doc.tasks) this.projects.get(t.project)?.engines.get(t.engine)?.tasks.delete(t.name);
            for (const c of created) {
              this.projects.get(c.project)?.engines.delete(c.key);
              await c.entry.engine.close().catch(() => undefined);
            }
            for (const p of newProjects.values()) this.projects.delete(p.name);
            throw startFailure(err, `task "${r.config.name}" of project "${r.config.project}" did not start: nothing was added`);
          }
        }
        this.log.info('objects added', { projects: doc.projects.length, engines: doc.engines.length, tasks: doc.tasks.length });
        return {
          projects: doc.projects.map((p) => p.name),
          engines: doc.engines.map((e) => `${e.project}/${engineKey(e)}`),
          tasks: doc.tasks.map((t) => `${t.project}/${t.engine}/${t.name}`),
          warnings: doc.warnings ?? [],
        };
      },
    };
  }

  /**
   * Removes the tasks, engines and projects named in `doc` (a project takes
   * everything under it), or nothing. Only the objects' identities are read
   * (ObjectRefs), as etmem reads only the name keys on delete.
   */
  del(doc: ObjectRefs): Promise<ChangeSummary> {
    const engineKey = refEngineKey;
    return this.mutex.run(async () => {
      this.checkDel(doc);
      await this.commitDel(doc);
      return {
        projects: doc.projects.map((p) => p.name),
        engines: doc.engines.map((e) => `${e.project}/${engineKey(e)}`),
        tasks: doc.tasks.map((t) => `${t.project}/${t.engine}/${t.name}`),
      };
    });
  }

  /** Throws unless every object `doc` names exists. */
  private checkDel(doc: ObjectRefs): void {
    const engineKey = refEngineKey;
    for (const t of doc.tasks) {
      const project = this.projects.get(t.project);
      if (!project) throw new VirtTierError('OPT_PRO_NOEXIST', `${describe('task', t.name, t.source)}: project "${t.project}" does not exist`, { field: 'task.project', value: t.project });
      const engine = project.engines.get(t.engine);
      if (!engine) throw new VirtTierError('OPT_ENG_NOEXIST', `${describe('task', t.name, t.source)}: engine "${t.engine}" does not exist in project "${t.project}"`, { field: 'task.engine', value: t.engine });
      if (!engine.tasks.has(t.name)) throw new VirtTierError('OPT_TASK_NOEXIST', `${describe('task', t.name, t.source)} does not exist`, { field: 'task.name', value: t.name });
    }
    for (const e of doc.engines) {
      const key = engineKey(e);
      const project = this.projects.get(e.project);
      if (!project) throw new VirtTierError('OPT_PRO_NOEXIST', `${describe('engine', key, e.source)}: project "${e.project}" does not exist`, { field: 'engine.project', value: e.project });
      if (!project.engines.has(key)) throw new VirtTierError('OPT_ENG_NOEXIST', `${describe('engine', key, e.source)} does not exist in project "${e.project}"`, { field: 'engine.name', value: key });
    }
    for (const p of doc.projects) {
      if (!this.projects.has(p.name)) throw new VirtTierError('OPT_PRO_NOEXIST', `${describe('project', p.name, p.source)} does not exist`, { field: 'project.name', value: p.name });
    }
  }

  /** Removes what checkDel accepted: tasks, then engines, then projects. */
  private async commitDel(doc: ObjectRefs): Promise<void> {
    const engineKey = refEngineKey;
    for (const t of doc.tasks) {
      const engine = this.projects.get(t.project)?.engines.get(t.engine);
      const runtime = engine?.tasks.get(t.name);
      if (!engine || !runtime) continue;
      await runtime.stop();
      engine.tasks.delete(t.name);
    }
    for (const e of doc.engines) {
      const project = this.projects.get(e.project);
      const entry = project?.engines.get(engineKey(e));
      if (!project || !entry) continue;
      await this.closeEngine(entry);
      project.engines.delete(engineKey(e));
    }
    for (const p of doc.projects) {
      const project = this.projects.get(p.name);
      if (!project) continue;
      for (const entry of project.engines.values()) await this.closeEngine(entry);
      this.projects.delete(p.name);
    }
    if (doc.projects.length + doc.engines.length + doc.tasks.length > 0) {
      this.log.info('objects deleted', { projects: doc.projects.length, engines: doc.engines.length, tasks: doc.tasks.length });
    }
  }

  private async closeEngine(entry: EngineEntry): Promise<void> {
    for (const runtime of entry.tasks.values()) await runtime.stop();
    entry.tasks.clear();
    await entry.engine.close();
  }

  start(name: string): Promise<void> {
    return this.mutex.run(async () => {
      const project = this.requireProject(name);
      if (project.started) throw new VirtTierError('OPT_PRO_STARTED', `project "${name}" is already started`, { field: '-n', value: name });
      // etmem: an engine without a start operation, or a task whose start fails, makes `project start`
      // OPT_INTER_ERR and the project stays stopped (etmemd_project.c etmemd_migrate_start, start_tasks).
      // etmem leaves the tasks started before the failure running; virt-tier stops them again.
      for (const [key, entry] of project.engines) {
        if (entry.engine.canStart === false) {
          throw new VirtTierError('OPT_INTER_ERR', `project "${name}" cannot start: engine "${key}" has no start operation (its plugin exports no startTask)`, { field: '-n', value: name });
        }
      }
      const startedNow: TaskRuntime[] = [];
      try {
        for (const entry of project.engines.values()) {
          for (const runtime of entry.tasks.values()) {
            await runtime.start();
            startedNow.push(runtime);
          }
        }
      } catch (err) {
        for (const runtime of startedNow) await runtime.stop();
        throw startFailure(err, `project "${name}" did not start, it stays stopped`);
      }
      project.started = true;
      this.log.info('project started', { project: name });
    });
  }

  stop(name: string): Promise<void> {
    return this.mutex.run(async () => {
      const project = this.requireProject(name);
      if (!project.started) throw new VirtTierError('OPT_PRO_STOPPED', `project "${name}" is already stopped`, { field: '-n', value: name });
      project.started = false;
      for (const entry of project.engines.values()) for (const runtime of entry.tasks.values()) await runtime.stop();
      this.log.info('project stopped', { project: name });
    });
  }

  /**
   * Projects (all, or the one named) with their tasks, in insertion order.
   * A named project that does not exist gives an empty list, not an error:
   * etmem answers `project show -n MISSING` with success and a message
   * (etmemd_project.c etmemd_project_show), and its llt pin that.
   */
  show(name?: string): ProjectView[] {
    const one = name === undefined ? undefined : this.projects.get(name);
    const entries = name === undefined ? [...this.projects.values()] : one ? [one] : [];
    return entries.map((p) => {
      const tasks: TaskView[] = [];
      for (const entry of p.engines.values()) for (const runtime of entry.tasks.values()) tasks.push(runtime.view());
      tasks.forEach((t, i) => (t.number = i + 1));
      return {
        name: p.config.name,
        started: p.started,
        loop: p.config.loop,
        interval: p.config.interval,
        sleep: p.config.sleep,
        engines: [...p.engines.keys()],
        tasks,
      };
    });
  }

  /** Routes an engine private command (`engine showtaskpages ...`). */
  async engineCommand(projectName: string, engineName: string, cmd: string, args: { task?: string; json?: boolean }): Promise<unknown> {
    const project = this.requireProject(projectName);
    if (!project.started) {
      throw new VirtTierError('OPT_INVAL', `project "${projectName}" is not started: engine commands need a started project`, { field: '-n', value: projectName, allowed: 'a started project' });
    }
    const entry = project.engines.get(engineName);
    if (!entry) {
      throw new VirtTierError('OPT_ENG_NOEXIST', `engine "${engineName}" does not exist in project "${projectName}"`, { field: '-e', value: engineName, allowed: [...project.engines.keys()].join('|') || '(none)' });
    }
    if (args.task !== undefined && !entry.tasks.has(args.task)) {
      throw new VirtTierError('OPT_TASK_NOEXIST', `task "${args.task}" does not exist in engine "${engineName}" of project "${projectName}"`, { field: '-t', value: args.task, allowed: [...entry.tasks.keys()].join('|') || '(none)' });
    }
    return entry.engine.command(cmd, args);
  }

  /** Every task's runtime, for the stats feed and metrics. */
  tasks(): TaskRuntime[] {
    const out: TaskRuntime[] = [];
    for (const p of this.projects.values()) for (const e of p.engines.values()) out.push(...e.tasks.values());
    return out;
  }

  /** SIGTERM: stop every task, remove every project. */
  shutdown(): Promise<void> {
    // First make an add in progress give up (it may be waiting on a plugin's init), so the mutex frees at once.
    this.closing.abort();
    return this.mutex.run(async () => {
      for (const project of this.projects.values()) {
        project.started = false;
        for (const entry of project.engines.values()) await this.closeEngine(entry);
      }
      this.projects.clear();
    });
  }

  private requireProject(name: string): ProjectEntry {
    const project = this.projects.get(name);
    if (!project) {
      throw new VirtTierError('OPT_PRO_NOEXIST', `project "${name}" does not exist`, { field: '-n', value: name, allowed: [...this.projects.keys()].join('|') || '(no projects)' });
    }
    return project;
  }
}

/** A task's failed start as etmem answers it: OPT_INTER_ERR, with what happened to the state. */
function startFailure(err: unknown, what: string): VirtTierError {
  const why = err instanceof Error ? err.message : String(err);
  return new VirtTierError('OPT_INTER_ERR', `${what}: ${why}`, err instanceof VirtTierError ? { field: err.field, value: err.value } : {});
}

/**
 * `created` or, once `signal` aborts, an AbortError at once. An engine that
 * is created after the abort is closed when it arrives, so a plugin's slow
 * init neither holds SIGTERM back nor leaks its engine.
 */
function untilClosing(created: Promise<Engine>, signal: AbortSignal): Promise<Engine> {
  if (signal.aborted) {
    void created.then((e) => e.close(), () => undefined).catch(() => undefined);
    return Promise.reject(abortError('the daemon is stopping: nothing was added'));
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      void created.then((e) => e.close(), () => undefined).catch(() => undefined);
      reject(abortError('the daemon is stopping: nothing was added'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    created.then(
      (e) => {
        signal.removeEventListener('abort', onAbort);
        resolve(e);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
