/** `virt-tier project start|stop|show`: etmem's project verbs and its `project show` format. */
import type { ProjectView } from '../model/registry.js';
import { daemonCall } from './daemon-call.js';
import { padRight, printJson } from './format.js';
import { JSON_OPTION, requireOption, SOCKET_OPTION, socketName } from './options.js';
import { defineVerb } from './verb.js';

const USAGE = `Usage: virt-tier project start|stop -n|--name NAME [-s|--socket SOCKET]
       virt-tier project show [-n|--name NAME] [-s|--socket SOCKET] [--json]`;

/** etmem's layout: `project: NAME`, then "%-8s %-8s %-16s %-16s %-16s %-8s" rows. */
export function formatProjectShow(projects: ProjectView[], name?: string): string {
  // etmem's words for `show -n` of a project that is not there (etmemd_project.c etmemd_project_show); a success.
  if (projects.length === 0) return name === undefined ? 'no project exists\n' : `project: project ${name} is not existed\n`;
  const row = (c: string[]): string => [padRight(c[0], 8), padRight(c[1], 8), padRight(c[2], 16), padRight(c[3], 16), padRight(c[4], 16), padRight(c[5], 8)].join(' ') + '\n';
  let out = '';
  for (const p of projects) {
    out += `project: ${p.name}\n`;
    out += row(['number', 'type', 'value', 'name', 'engine', 'started']);
    for (const t of p.tasks) out += row([String(t.number), t.type, t.value, t.name, t.engine, t.started ? 'true' : 'false']);
  }
  return out;
}

export const command = defineVerb({
  name: 'project',
  summary: 'start, stop or show projects',
  usage: USAGE,
  action: { allowed: ['start', 'stop', 'show'] },
  options: [{ key: 'name', short: '-n', long: '--name', takesValue: true, valueName: 'NAME' }, SOCKET_OPTION, JSON_OPTION],
  async run(verb, opts, io) {
    const socket = socketName(opts);
    if (verb === 'show') {
      const name = typeof opts.values.name === 'string' ? opts.values.name : undefined;
      const projects = (await daemonCall(socket, 'project.show', name === undefined ? {} : { name })) as ProjectView[];
      if (opts.values.json) printJson(io, projects);
      else io.out(formatProjectShow(projects, name));
      return 0;
    }
    const name = requireOption(opts, 'name', '-n', 'a project name');
    await daemonCall(socket, `project.${verb}`, { name });
    if (opts.values.json) printJson(io, { project: name, action: verb, ok: true });
    return 0;
  },
});
