/**
 * A strict option parser for the CLI verbs: known flags only, values where
 * required, no flag twice, no stray words. Errors name the flag. Also the
 * flags several verbs take (-s, --json, --connect, --pid) and their checks.
 */
import { readFileSync } from 'node:fs';
import { VirtTierError, invalidField } from '../errors.js';
import { defaultSocketName } from '../api/protocol.js';

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

export { splitInlineValue, usageError } from '../argv.js';
import { splitInlineValue, usageError } from '../argv.js';

/** Parses `args`; `positionals` is how many bare words the verb takes (e.g. a domain name). */
export function parseOptions(args: string[], specs: OptionSpec[], positionals = 0): ParsedOptions {
  const out: ParsedOptions = { positionals: [], values: {} };
  for (let i = 0; i < args.length; i++) {
    const { flag: arg, inline } = splitInlineValue(args[i]);
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
export const CONNECT_OPTION: OptionSpec = { key: 'connect', short: '-c', long: '--connect', takesValue: true, valueName: 'URI' };
export const PID_OPTION: OptionSpec = { key: 'pid', short: '-p', long: '--pid', takesValue: true, valueName: 'PID' };

/** Kept here, not imported from src/virt/connection.ts: that loads the libvirt binding, which only verbs that talk to libvirt should pay for (lazily). */
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/** The libvirt URI: --connect, else $LIBVIRT_DEFAULT_URI (as virsh), else qemu:///system. */
export function libvirtUri(opts: ParsedOptions, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof opts.values.connect === 'string') return opts.values.connect;
  return env.LIBVIRT_DEFAULT_URI || DEFAULT_LIBVIRT_URI;
}

/** The daemon socket name: -s, else $VIRT_TIER_SOCKET, else `virt-tier`, the daemon's own default. etmem requires -s; virt-tier defaults it. */
export function socketName(opts: ParsedOptions, env: NodeJS.ProcessEnv = process.env): string {
  const s = opts.values.socket;
  if (typeof s === 'string') return s;
  return defaultSocketName(env);
}

/** pid_max, the upper bound of a valid PID (proc(5)); 4194304 when unreadable. */
function pidMax(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4194304;
  } catch {
    return 4194304;
  }
}

/** Validates --pid: a decimal integer in 1..pid_max. */
export function parsePid(value: string): number {
  const max = pidMax();
  const allowed = `a running process id, 1..${max}`;
  if (!/^\d+$/.test(value)) throw invalidField('--pid', value, allowed, 'not a process id');
  const pid = Number(value);
  if (pid < 1 || pid > max) throw invalidField('--pid', value, allowed, 'out of range');
  return pid;
}
