/** Shared by the verbs that talk to virt-tierd: one call, errors printed the same way everywhere. */
import { call } from '../api/client.js';
import { VirtTierError } from '../errors.js';
import type { CliIO } from './command.js';

/** `timeoutMs` is short for best-effort asks (hot/cold for `list`), long for changes the daemon may take a while over. */
export function daemonCall(socket: string, cmd: string, args: Record<string, unknown>, timeoutMs = 60_000): Promise<unknown> {
  return call(socket, cmd, args, { timeoutMs });
}

/** Prints an error as `virt-tier: CODE: message` (plus field/allowed when the message lacks them); returns the exit code. */
export function reportError(io: CliIO, err: unknown): number {
  if (err instanceof VirtTierError) {
    const allowed = err.allowed !== undefined && !err.message.includes('allowed') ? `; allowed: ${err.allowed}` : '';
    io.err(`virt-tier: ${err.code}: ${err.message}${allowed}\n`);
    return err.code === 'OPT_INVAL' && err.field?.startsWith('-') ? 2 : 1;
  }
  io.err(`virt-tier: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

export function printJson(io: CliIO, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}
