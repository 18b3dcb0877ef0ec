/** `virt-tier obj add|del -f FILE [-s SOCKET]`: etmem's object verbs. The daemon reads and checks the file. */
import path from 'node:path';
import { daemonCall } from './daemon-call.js';
import { printJson } from './format.js';
import { JSON_OPTION, requireOption, SOCKET_OPTION, socketName } from './options.js';
import { defineVerb } from './verb.js';

const USAGE = `Usage: virt-tier obj add|del -f|--file FILE [-s|--socket SOCKET] [--json]
  add: validates the whole file, then adds every project, engine and task in it, or nothing.
  del: removes the tasks, engines and projects the file names (a project takes everything under it).`;

export const command = defineVerb({
  name: 'obj',
  summary: 'add or delete the projects, engines and tasks of a config file',
  usage: USAGE,
  action: { allowed: ['add', 'del'] },
  options: [{ key: 'file', short: '-f', long: '--file', takesValue: true, valueName: 'FILE' }, SOCKET_OPTION, JSON_OPTION],
  async run(verb, opts, io) {
    const file = path.resolve(requireOption(opts, 'file', '-f', 'a config file'));
    const result = await daemonCall(socketName(opts), `obj.${verb}`, { file });
    if (opts.values.json) {
      printJson(io, result);
      return 0;
    }
    const r = result as { projects: string[]; engines: string[]; tasks: string[]; warnings?: string[] };
    for (const w of r.warnings ?? []) io.err(`virt-tier: warning: ${w}\n`);
    io.out(`${verb === 'add' ? 'added' : 'deleted'}: ${r.projects.length} project(s), ${r.engines.length} engine(s), ${r.tasks.length} task(s)\n`);
    return 0;
  },
});
