/**
 * Raw sections -> the validated ConfigDocument: each section through its
 * schema (sections.ts), then the rules across sections that one file can
 * settle: project names unique, one engine of each kind (or eng_name) per
 * project, task names unique within their engine, and slide's `T <= loop*3`
 * when the task's project is in the same file. Whether a referenced
 * project or engine exists is the model's call (it may already be in the
 * daemon).
 */
import { VirtTierError } from '../errors.js';
import { badValue, fieldName, type RawSection } from './raw.js';
import { buildEngine, buildProject, buildTask } from './sections.js';
import { engineKindOf } from './task-params.js';
import type { ConfigDocument, EngineConfig, HostFacts, ProjectConfig, SlideTaskParams } from './types.js';

function where(section: RawSection): string {
  return `${fieldName(section)}${section.line !== undefined ? ` (line ${section.line})` : ''}`;
}

/** `allowEmpty`: a file of comments only is an empty document (the daemon's own config file), not an error (`obj add`). */
export function buildDocument(sections: readonly RawSection[], host: HostFacts, opts: { allowEmpty?: boolean } = {}): ConfigDocument {
  if (sections.length === 0 && !opts.allowEmpty) {
    throw new VirtTierError('OPT_INVAL', 'the file holds no [project], [engine] or [task] section', {
      field: 'file',
      allowed: 'at least one project, engine or task',
    });
  }
  const doc: ConfigDocument = { projects: [], engines: [], tasks: [], warnings: [] };

  const projects = new Map<string, { config: ProjectConfig; section: RawSection }>();
  for (const section of sections.filter((s) => s.kind === 'project')) {
    const config = buildProject(section);
    const earlier = projects.get(config.name);
    if (earlier) throw badValue(section, 'name', config.name, 'unique among projects', `same name as ${where(earlier.section)}`);
    projects.set(config.name, { config, section });
    doc.projects.push(config);
  }

  const engines = new Map<string, RawSection>();
  for (const section of sections.filter((s) => s.kind === 'engine')) {
    const config: EngineConfig = buildEngine(section, host);
    const key = config.name === 'thirdparty' ? config.eng_name : config.name;
    const id = `${config.project}\0${key}`;
    const earlier = engines.get(id);
    if (earlier) {
      const field = config.name === 'thirdparty' ? 'eng_name' : 'name';
      throw badValue(section, field, key, `one ${key} engine per project`, `project "${config.project}" already has this engine at ${where(earlier)}`);
    }
    engines.set(id, section);
    doc.engines.push(config);
  }

  const tasks = new Map<string, RawSection>();
  for (const section of sections.filter((s) => s.kind === 'task')) {
    const { task, warnings, reader } = buildTask(section, host);
    const id = `${task.project}\0${task.engine}\0${task.name}`;
    const earlier = tasks.get(id);
    if (earlier) {
      throw badValue(section, 'name', task.name, 'unique within the engine', `engine "${task.engine}" of project "${task.project}" already has this task at ${where(earlier)}`);
    }
    tasks.set(id, section);
    const project = projects.get(task.project)?.config;
    if (project && engineKindOf(task.engine) === 'slide') {
      const limit = project.loop * 3;
      if ((task.params as SlideTaskParams).T > limit) {
        throw reader.invalid('T', 'out of range', `0..${limit} (3 * loop of project "${project.name}")`);
      }
    }
    doc.warnings!.push(...warnings);
    doc.tasks.push(task);
  }
  return doc;
}
