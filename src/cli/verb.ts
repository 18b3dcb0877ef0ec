/**
 * The common shape of a verb: an optional action word (`obj add`), strict
 * options, `-h|--help` anywhere, and every error printed the same way.
 * A verb file declares its options and writes only what it does; every
 * verb in src/cli/ is built here.
 */
import type { CliCommand, CliIO } from './command.js';
import { VirtTierError } from '../errors.js';
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
  /**
   * The verb's options. `-h|--help` is added last unless listed: its place
   * in the list is the order an unknown-option error names them in.
   */
  options: OptionSpec[];
  /** how many bare words may follow the options (a domain name, KEY=VALUE words...) */
  positionals?: number;
  run(action: string, opts: ParsedOptions, io: CliIO): Promise<number>;
}

/** Prints an error as `virt-tier: CODE: message` (plus allowed when the message lacks it); returns the exit code: 2 for a bad flag, else 1. */
export function reportError(io: CliIO, err: unknown): number {
  if (err instanceof VirtTierError) {
    const allowed = err.allowed !== undefined && !err.message.includes('allowed') ? `; allowed: ${err.allowed}` : '';
    io.err(`virt-tier: ${err.code}: ${err.message}${allowed}\n`);
    return err.code === 'OPT_INVAL' && err.field?.startsWith('-') ? 2 : 1;
  }
  io.err(`virt-tier: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

export function defineVerb(spec: VerbSpec): CliCommand {
  const options = spec.options.includes(HELP_OPTION) ? spec.options : [...spec.options, HELP_OPTION];
  return {
    name: spec.name,
    summary: spec.summary,
    usage: spec.usage,
    flags: options.flatMap((o) => (o.short ? [o.short, o.long] : [o.long])),
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
        const opts = parseOptions(rest, options, spec.positionals ?? 0);
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
