/**
 * `virt-tier report TASK|DOMAIN --out FILE.svg|FILE.png`: the access heat
 * of a task over address and time, for the last cycles the daemon kept
 * (its scan observer holds a bounded history). TASK is a task name
 * (`-n PROJECT -e ENGINE` when it is not unique); DOMAIN a libvirt guest
 * tiered through its policy (task `domain-<uuid>`).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CliCommand, CliIO } from './command.js';
import { CONNECT_OPTION, SOCKET_OPTION, libvirtUri, socketName, type OptionSpec, type ParsedOptions } from './options.js';
import { defineVerb } from './verb.js';
import { daemonCall } from './daemon-call.js';
import { heatPng, heatSvg } from './heat-image.js';
import { VirtTierError, invalidField } from '../errors.js';
import type { HeatReport } from '../feed/report-handler.js';

const USAGE = `Usage: virt-tier report TASK|DOMAIN --out FILE.svg|FILE.png [-n PROJECT] [-e ENGINE] [--cycles N] [-s SOCKET] [-c URI]
  Access heat over address (across) and time (down) for the task's last cycles, as the daemon kept them.
  --cycles  the last N cycles (1..120, default all the daemon kept)`;

const OPTIONS: OptionSpec[] = [
  { key: 'out', short: '-o', long: '--out', takesValue: true, valueName: 'FILE' },
  { key: 'project', short: '-n', long: '--name', takesValue: true, valueName: 'PROJECT' },
  { key: 'engine', short: '-e', long: '--engine', takesValue: true, valueName: 'ENGINE' },
  { key: 'cycles', long: '--cycles', takesValue: true, valueName: 'N' },
  SOCKET_OPTION,
  CONNECT_OPTION,
];

interface ShownTask { project: string; engine: string; name: string }

/** The task a name (or a domain's task) stands for, from the daemon's `project show`. */
async function findTask(socket: string, word: string, opts: ParsedOptions): Promise<ShownTask> {
  const projects = (await daemonCall(socket, 'project.show', {}, 5000)) as Array<{ name: string; tasks: ShownTask[] }>;
  const all = projects.flatMap((p) => p.tasks.map((t) => ({ project: t.project ?? p.name, engine: t.engine, name: t.name })));
  const pick = (name: string): ShownTask[] => all.filter((t) => t.name === name && (opts.values.project === undefined || t.project === opts.values.project) && (opts.values.engine === undefined || t.engine === opts.values.engine));
  let found = pick(word);
  if (found.length === 0) {
    // Not a task name: a libvirt domain tiered through its policy has the task domain-<uuid>.
    try {
      const { resolveDomain } = await import('../virt/discovery.js');
      const d = await resolveDomain(word, { uri: libvirtUri(opts) });
      found = pick(`domain-${d.uuid}`);
    } catch {
      // no libvirt, or no such domain: fall through to the error naming the tasks there are
    }
  }
  if (found.length === 1) return found[0]!;
  const names = all.map((t) => `${t.project}/${t.engine}/${t.name}`).join(', ') || '(no tasks)';
  if (found.length === 0) throw new VirtTierError('OPT_TASK_NOEXIST', `no task or tiered domain "${word}" in the daemon`, { field: 'TASK|DOMAIN', value: word, allowed: names });
  throw new VirtTierError('OPT_INVAL', `task "${word}" is in several engines: name one with -n PROJECT -e ENGINE`, { field: 'TASK', value: word, allowed: found.map((t) => `-n ${t.project} -e ${t.engine}`).join(' | ') });
}

async function report(opts: ParsedOptions, io: CliIO): Promise<number> {
  const word = opts.positionals[0];
  if (word === undefined) throw invalidField('TASK|DOMAIN', '', 'a task name or a libvirt domain', 'missing');
  const out = opts.values.out;
  if (typeof out !== 'string' || out === '') throw invalidField('--out', String(out ?? ''), 'FILE.svg or FILE.png', 'missing');
  const ext = path.extname(out).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') throw invalidField('--out', out, 'a file name ending in .svg or .png', 'unknown image type');
  let cycles: number | undefined;
  if (opts.values.cycles !== undefined) {
    const text = String(opts.values.cycles);
    cycles = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(Number.isInteger(cycles) && cycles >= 1 && cycles <= 120)) throw invalidField('--cycles', text, '1..120');
  }
  const socket = socketName(opts);
  const task = await findTask(socket, word, opts);
  const heat = (await daemonCall(socket, 'report.heat', { project: task.project, engine: task.engine, task: task.name }, 5000)) as HeatReport;
  const strips = cycles === undefined ? heat.strips : heat.strips.slice(-cycles);
  if (strips.length === 0) throw new VirtTierError('OPT_INVAL', `task ${heat.task} has no finished cycle yet: nothing to draw`, { field: 'TASK|DOMAIN', value: word, allowed: 'a task that has run at least one cycle' });
  const title = `${heat.task} (${heat.tracker})`;
  writeFileSync(out, ext === '.svg' ? heatSvg(strips, { title }) : heatPng(strips));
  io.out(`${out}: ${strips.length} cycles of ${heat.task}\n`);
  return 0;
}

export const command: CliCommand = defineVerb({
  name: 'report',
  summary: "a task's access heat over address and time (SVG or PNG), from the daemon's last cycles",
  usage: USAGE,
  options: OPTIONS,
  positionals: 1,
  run: (_action, opts, io) => report(opts, io),
});
