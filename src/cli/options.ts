/**
 * A strict option parser for the CLI verbs: known flags only, values where
 * required, no flag twice, no stray words. Errors name the flag.
 */
import { VirtTierError } from '../errors.js';

export interface OptionSpec {
  /** key in the result */
  key: string;
  short?: string;
  long: string;
  takesValue: boolean;
  /** what the value is, for messages: "FILE", "NAME" */
  valueName?: string;
}

export interface ParsedOptions {
  /** bare words, in order */
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

export function usageError(message: string, field: string, value = '', allowed = ''): VirtTierError {
  return new VirtTierError('OPT_INVAL', message, { field, value, allowed });
}

/** Parses `args`; `positionals` is how many bare words the verb takes (e.g. a domain name). */
export function parseOptions(args: string[], specs: OptionSpec[], positionals = 0): ParsedOptions {
  const out: ParsedOptions = { positionals: [], values: {} };
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    let inline: string | undefined;
    if (arg.startsWith('--') && arg.includes('=')) {
      inline = arg.slice(arg.indexOf('=') + 1);
      arg = arg.slice(0, arg.indexOf('='));
    }
    if (arg.startsWith('-') && arg !== '-') {
      const spec = specs.find((s) => s.long === arg || (s.short !== undefined && s.short === arg));
      if (!spec) {
        const known = specs.map((s) => (s.short ? `${s.short}|${s.long}` : s.long)).join(', ');
        throw usageError(`unknown option ${arg}`, arg, arg, known || 'no options');
      }
      if (out.values[spec.key] !== undefined) throw usageError(`${arg} given twice`, spec.short ?? spec.long, String(out.values[spec.key]), 'once');
      if (!spec.takesValue) {
        if (inline !== undefined) throw usageError(`${arg} takes no value`, arg, inline, 'no value');
        out.values[spec.key] = true;
        continue;
      }
      const value = inline ?? args[i + 1];
      if (value === undefined || (inline === undefined && value.startsWith('-') && value.length > 1)) {
        throw usageError(`${arg} needs a value (${spec.valueName ?? 'VALUE'})`, spec.short ?? spec.long, '(missing)', spec.valueName ?? 'a value');
      }
      if (inline === undefined) i++;
      out.values[spec.key] = value;
      continue;
    }
    out.positionals.push(arg);
  }
  if (out.positionals.length > positionals) {
    throw usageError(`unexpected argument ${JSON.stringify(out.positionals[positionals])}`, 'argv', out.positionals[positionals], positionals === 0 ? 'options only' : `${positionals} argument(s)`);
  }
  return out;
}

export function requireOption(opts: ParsedOptions, key: string, flag: string, what: string): string {
  const v = opts.values[key];
  if (typeof v !== 'string' || v.length === 0) throw usageError(`${flag} is required (${what})`, flag, '(missing)', what);
  return v;
}

export const SOCKET_OPTION: OptionSpec = { key: 'socket', short: '-s', long: '--socket', takesValue: true, valueName: 'SOCKET' };
export const JSON_OPTION: OptionSpec = { key: 'json', long: '--json', takesValue: false };
export const HELP_OPTION: OptionSpec = { key: 'help', short: '-h', long: '--help', takesValue: false };

/** The daemon socket name: -s, else $VIRT_TIER_SOCKET, else `virt-tier`. etmem requires -s; virt-tier defaults it. */
export function socketName(opts: ParsedOptions): string {
  const s = opts.values.socket;
  if (typeof s === 'string') return s;
  return process.env.VIRT_TIER_SOCKET ?? 'virt-tier';
}
