/** How a verb talks to virt-tierd: one call, the daemon's errors come back as VirtTierError with their wire codes. */
import { call } from '../api/client.js';

/** `timeoutMs` is short for best-effort asks (hot/cold for `list`), long for changes the daemon may take a while over. */
export function daemonCall(socket: string, cmd: string, args: Record<string, unknown>, timeoutMs = 60_000): Promise<unknown> {
  return call(socket, cmd, args, { timeoutMs });
}
