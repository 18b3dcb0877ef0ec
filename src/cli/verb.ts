/**
 * The common shape of a verb: an optional action word (`obj add`), strict
 * options, `-h|--help` anywhere, and every error printed the same way.
 * A verb file declares its options and writes only what it does.
 */
import type { CliCommand, CliIO } from './command.js';
import { reportError } from './daemon-call.js';
import { HELP_OPTION, parseOptions, usageError, type OptionSpec, type ParsedOptions } from './options.js';

export interface VerbSpec {
  name: string;
  summary: string;
  usage: string;
  /**
   * The words allowed right after the verb (`add|del`), or a pattern for a
   * free word (`engine CMD`), or undefined when the verb takes none.
   */
  action?: { allowed: readonly string[] } | { pattern: RegExp; describe: string };
  options: OptionSpec[];
  /** how many bare words may follow the options (a domain name, ...) */
  positionals?: number;
  run(action: string, opts: ParsedOptions, io: CliIO): Promise<number>;
}

export function defineVerb(spec: VerbSpec): CliCommand {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: spec.usage,
    async run(args, io) {
      try {
        let action = '';
        let rest = args;
        if (spec.action) {
          [action, ...rest] = args;
          if (action === '-h' || action === '--help' || action === 'help') {
            io.out(spec.usage + '\n');
            return 0;
          }
          const a = spec.action;
          const ok = 'allowed' in a ? a.allowed.includes(action ?? '') : action !== undefined && a.pattern.test(action);
          if (!ok) {
            const allowed = 'allowed' in a ? a.allowed.join('|') : a.describe;
            throw usageError(`${spec.name}: unknown or missing action ${JSON.stringify(action ?? '')}`, spec.name, action ?? '', allowed);
          }
        }
        const opts = parseOptions(rest, [...spec.options, HELP_OPTION], spec.positionals ?? 0);
        if (opts.values.help) {
          io.out(spec.usage + '\n');
          return 0;
        }
        return await spec.run(action, opts, io);
      } catch (err) {
        return reportError(io, err);
      }
    },
  };
}
