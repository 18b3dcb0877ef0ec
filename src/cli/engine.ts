/** `virt-tier engine CMD -n PROJECT -e ENGINE [-t TASK]`: an engine's private command (showtaskpages, showhostpages, plugin commands). */
import type { CliCommand } from './command.js';
import { daemonCall, printJson, reportError } from './daemon-call.js';
import { HELP_OPTION, JSON_OPTION, parseOptions, requireOption, SOCKET_OPTION, socketName, usageError } from './options.js';

const USAGE = `Usage: virt-tier engine CMD -n|--name PROJECT -e|--engine ENGINE [-t|--task_name TASK] [-s|--socket SOCKET] [--json]
  cslide commands: showtaskpages (needs -t), showhostpages; thirdparty engines define their own.`;

export const command: CliCommand = {
  name: 'engine',
  summary: "run an engine's private command (showtaskpages, showhostpages, ...)",
  usage: USAGE,
  async run(args, io) {
    try {
      const [cmd, ...rest] = args;
      if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
        io.out(USAGE + '\n');
        return 0;
      }
      if (cmd === undefined || cmd.startsWith('-') || !/^[A-Za-z0-9_.-]{1,64}$/.test(cmd)) {
        throw usageError(`engine: missing or malformed command ${JSON.stringify(cmd ?? '')}`, 'engine CMD', cmd ?? '', '1..64 characters of [A-Za-z0-9_.-]');
      }
      const opts = parseOptions(rest, [
        { key: 'name', short: '-n', long: '--name', takesValue: true, valueName: 'PROJECT' },
        { key: 'engine', short: '-e', long: '--engine', takesValue: true, valueName: 'ENGINE' },
        { key: 'task', short: '-t', long: '--task_name', takesValue: true, valueName: 'TASK' },
        SOCKET_OPTION,
        JSON_OPTION,
        HELP_OPTION,
      ]);
      if (opts.values.help) {
        io.out(USAGE + '\n');
        return 0;
      }
      const project = requireOption(opts, 'name', '-n', 'a project name');
      const engine = requireOption(opts, 'engine', '-e', 'an engine name');
      const task = typeof opts.values.task === 'string' ? opts.values.task : undefined;
      const json = opts.values.json === true;
      const result = await daemonCall(socketName(opts), 'engine.cmd', { project, engine, cmd, task, json });
      if (typeof result === 'string' && !json) io.out(result.endsWith('\n') ? result : result + '\n');
      else printJson(io, result);
      return 0;
    } catch (err) {
      return reportError(io, err);
    }
  },
};
