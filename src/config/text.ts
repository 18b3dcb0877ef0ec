/** Text of either form -> validated ConfigDocument (see parse.ts for the map of this folder). */
import { Worker } from 'node:worker_threads';
import { VirtTierError, type ResultCode } from '../errors.js';
import { buildDocument } from './document.js';
import { parseIni } from './ini.js';
import type { ConfigDocument, HostFacts } from './types.js';
import { parseYaml } from './yaml.js';

export type ConfigFormat = 'ini' | 'yaml';

/** Parses and validates one configuration file's text. */
export function parseConfigText(text: string, format: ConfigFormat, host: HostFacts, opts: { allowEmpty?: boolean } = {}): ConfigDocument {
  const sections = format === 'yaml' ? parseYaml(text) : parseIni(text);
  return buildDocument(sections, host, opts);
}

/** `.yaml`/`.yml` files are YAML, anything else etmem's INI form. */
export function formatOfPath(file: string): ConfigFormat {
  return /\.ya?ml$/i.test(file) ? 'yaml' : 'ini';
}

/** Texts up to this size parse in a few milliseconds: inline, without a thread. */
export const INLINE_PARSE_MAX_CHARS = 64 * 1024;
/** The heap a large text's parse may use; past it the file is refused as too complex. */
export const PARSE_HEAP_MIB = 512;

/**
 * parseConfigText that never blocks the caller's event loop for long: a
 * text larger than INLINE_PARSE_MAX_CHARS is parsed in a worker thread
 * whose heap is limited to PARSE_HEAP_MIB (a 10 MiB YAML file took 20 s
 * and 1.5 GB in the daemon's own thread).
 */
export function parseConfigTextBounded(text: string, format: ConfigFormat, host: HostFacts, opts: { allowEmpty?: boolean } = {}): Promise<ConfigDocument> {
  if (text.length <= INLINE_PARSE_MAX_CHARS) {
    try {
      return Promise.resolve(parseConfigText(text, format, host, opts));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
      workerData: { text, format, host, opts },
      resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MIB },
    });
    let settled = false;
    let failure: Error | undefined;
    worker.on('message', (msg: { ok: true; doc: ConfigDocument } | { ok: false; error: { code: ResultCode; message: string; field?: string; value?: string; allowed?: string } }) => {
      settled = true;
      if (msg.ok) resolve(msg.doc);
      else reject(new VirtTierError(msg.error.code, msg.error.message, msg.error));
    });
    worker.on('error', (err) => (failure = err));
    worker.on('exit', () => {
      if (settled) return;
      if ((failure as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        reject(new VirtTierError('OPT_INVAL', `too complex: parsing it needed more than ${PARSE_HEAP_MIB} MiB`, {
          field: 'file', allowed: `a configuration that parses within ${PARSE_HEAP_MIB} MiB`,
        }));
      } else {
        reject(new VirtTierError('OPT_INTER_ERR', `the parser thread failed: ${failure?.message ?? 'exited without an answer'}`));
      }
    });
  });
}
