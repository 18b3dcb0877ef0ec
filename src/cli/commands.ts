/** Every CLI verb, in the order `virt-tier help` lists them. One line per verb file. */
import type { CliCommand } from './command.js';
import { command as obj } from './obj.js';
import { command as project } from './project.js';
import { command as engine } from './engine.js';
import { command as pages } from './pages.js';
import { command as hostValidate } from './host-validate.js';
import { command as list } from './list.js';
import { command as stats } from './stats.js';
import { command as policy } from './policy.js';
import { command as installHook } from './install-hook.js';
import { command as migrateHints } from './migrate-hints.js';
import { command as top } from './top.js';
import { command as report } from './report.js';

export const commands: CliCommand[] = [
  obj,
  project,
  engine,
  pages,
  hostValidate,
  list,
  stats,
  policy,
  installHook,
  migrateHints,
  top,
  report,
];
