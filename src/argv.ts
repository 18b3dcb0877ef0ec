/**
 * Command-line words as both programs read them: virt-tierd's flags
 * (src/daemon/args.ts) and virt-tier's verbs (src/cli/options.ts) split
 * `--flag=value` alike and report a bad flag alike.
 */
import { VirtTierError } from './errors.js';

export function usageError(message: string, field: string, value = '', allowed = ''): VirtTierError {
  return new VirtTierError('OPT_INVAL', message, { field, value, allowed });
}

/** getopt_long's `--flag=value`: the flag and its inline value. Short flags and bare words come back whole. */
export function splitInlineValue(arg: string): { flag: string; inline?: string } {
  const eq = arg.indexOf('=');
  return arg.startsWith('--') && eq >= 0 ? { flag: arg.slice(0, eq), inline: arg.slice(eq + 1) } : { flag: arg };
}
