/** `virt-tier engine CMD -n PROJECT -e ENGINE [-t TASK]`: an engine's private command (showtaskpages, showhostpages, plugin commands). */
import { daemonCall } from './daemon-call.js';
import { printJson } from './format.js';
import { JSON_OPTION, requireOption, SOCKET_OPTION, socketName } from './options.js';
import { defineVerb } from './verb.js';

const USAGE = `Usage: virt-tier engine CMD -n|--name PROJECT -e|--engine ENGINE [-t|--task_name TASK] [-s|--socket SOCKET] [--json]
  cslide commands: showtaskpages (needs -t), showhostpages; thirdparty engines define their own.`;

export const command = defineVerb({
  name: 'engine',
  summary: "run an engine's private command (showtaskpages, showhostpages, ...)",
  usage: USAGE,
  action: { pattern: /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$/, describe: 'a command name: 1..64 characters of [A-Za-z0-9_.-]' },
  options: [
    { key: 'name', short: '-n', long: '--name', takesValue: true, valueName: 'PROJECT' },
    { key: 'engine', short: '-e', long: '--engine', takesValue: true, valueName: 'ENGINE' },
    { key: 'task', short: '-t', long: '--task_name', takesValue: true, valueName: 'TASK' },
    SOCKET_OPTION,
    JSON_OPTION,
  ],
  async run(cmd, opts, io) {
    const project = requireOption(opts, 'name', '-n', 'a project name');
    const engine = requireOption(opts, 'engine', '-e', 'an engine name');
    const task = typeof opts.values.task === 'string' ? opts.values.task : undefined;
    const json = opts.values.json === true;
    const result = await daemonCall(socketName(opts), 'engine.cmd', { project, engine, cmd, task, json });
    if (typeof result === 'string' && !json) io.out(result.endsWith('\n') ? result : result + '\n');
    else printJson(io, result);
    return 0;
  },
});
