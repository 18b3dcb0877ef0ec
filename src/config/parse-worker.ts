/**
 * The worker thread that parses one large configuration text
 * (text.ts, parseConfigTextBounded): the daemon's event loop keeps serving
 * `project show` and the hook while a big file is parsed, and the parse's
 * memory is bounded by the worker's heap limit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VirtTierError } from '../errors.js';
import { parseConfigText, type ConfigFormat } from './text.js';
import type { HostFacts } from './types.js';

const { text, format, host, opts } = workerData as { text: string; format: ConfigFormat; host: HostFacts; opts: { allowEmpty?: boolean } };
try {
  parentPort!.postMessage({ ok: true, doc: parseConfigText(text, format, host, opts) });
} catch (err) {
  const error = err instanceof VirtTierError ? err.toJSON() : { code: 'OPT_INVAL', message: `cannot parse: ${err instanceof Error ? err.message : String(err)}` };
  parentPort!.postMessage({ ok: false, error });
}
