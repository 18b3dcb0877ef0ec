/** `virt-tier obj add|del -f FILE [-s SOCKET]`: etmem's object verbs. The daemon reads and checks the file. */
import path from 'node:path';
import type { CliCommand } from './command.js';
import { daemonCall, printJson, reportError } from './daemon-call.js';
import { HELP_OPTION, JSON_OPTION, parseOptions, requireOption, SOCKET_OPTION, socketName, usageError } from './options.js';

const USAGE = `Usage: virt-tier obj add|del -f|--file FILE [-s|--socket SOCKET] [--json]
  add: validates the whole file, then adds every project, engine and task in it, or nothing.
  del: removes the tasks, engines and projects the file names (a project takes everything under it).`;

export const command: CliCommand = {
  name: 'obj',
  summary: 'add or delete the projects, engines and tasks of a config file',
  usage: USAGE,
  async run(args, io) {
    try {
      const [verb, ...rest] = args;
      if (verb === '-h' || verb === '--help' || verb === 'help') {
        io.out(USAGE + '\n');
        return 0;
      }
      if (verb !== 'add' && verb !== 'del') throw usageError(`obj: unknown action ${JSON.stringify(verb ?? '')}`, 'obj', verb ?? '', 'add|del');
      const opts = parseOptions(rest, [{ key: 'file', short: '-f', long: '--file', takesValue: true, valueName: 'FILE' }, SOCKET_OPTION, JSON_OPTION, HELP_OPTION]);
      if (opts.values.help) {
        io.out(USAGE + '\n');
        return 0;
      }
      const file = path.resolve(requireOption(opts, 'file', '-f', 'a config file'));
      const result = await daemonCall(socketName(opts), `obj.${verb}`, { file });
      if (opts.values.json) printJson(io, result);
      else {
        const r = result as { projects: string[]; engines: string[]; tasks: string[]; warnings?: string[] };
        for (const w of r.warnings ?? []) io.err(`virt-tier: warning: ${w}\n`);
        io.out(`${verb === 'add' ? 'added' : 'deleted'}: ${r.projects.length} project(s), ${r.engines.length} engine(s), ${r.tasks.length} task(s)\n`);
      }
      return 0;
    } catch (err) {
      return reportError(io, err);
    }
  },
};
