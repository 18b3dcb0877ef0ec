/**
 * Turns a case of etmem-llt-cases.json into the INI text etmem's own test
 * config writer would produce (etmem/test/common/test_common.c at e7f9a19),
 * so a conformance run feeds virt-tier byte-for-byte what etmem's llt feed
 * etmemd. Written from a description of that writer's behaviour:
 *
 * - each file is written from scratch; a section is its `[name]` header line
 *   followed by `key=value` lines, each ending in `\n`; no blanks, no
 *   comments, no blank line between sections;
 * - keys come out in the order the case lists them (the JSON already holds
 *   them in the writer's order: `[project]` always starts with
 *   `scan_type=page`; `[engine]` name, project, then the engine's keys;
 *   `[task]` name, project, engine, type, value, then the engine's keys);
 * - a key the test leaves unset is simply absent from the case;
 * - values are written as they are, even empty ones (`key=`).
 *
 * Placeholders ($NODE_PAIR, $SELF_PID, ${i}, ...) are replaced from `vars`;
 * `$NODE_PAIR` defaults to what the llt's get_node_pair() picks for the
 * host's node count. An unknown placeholder is an error, never written.
 *
 * Usage: node dist/test/conformance/write-etmem-config.js CASE_ID [out.ini] [--var NAME=VALUE]...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One INI section of a case: keys in file order, values as written. */
export type CaseSection = Record<string, string>;
/** A case's `config`: section name (`project`, `engine`, `task`, or anything the test writes) to keys. */
export type CaseConfig = Record<string, CaseSection>;

export interface LltCase {
  id: string;
  kind: string;
  config?: CaseConfig;
  [more: string]: unknown;
}

/**
 * The node_pair etmem's llt writes for a host with `nodeCount` configured
 * NUMA nodes (test_common.c:get_node_pair): 2 -> "0,1", 4 -> "0,2;1,3",
 * 6 -> "0,3;1,4;2,5"; any other count gives NULL, which the C writer prints
 * as "(null)" (and etmemd then refuses).
 */
export function lltNodePair(nodeCount: number): string {
  switch (nodeCount) {
    case 2: return '0,1';
    case 4: return '0,2;1,3';
    case 6: return '0,3;1,4;2,5';
    default: return '(null)';
  }
}

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Replaces `$NAME` and `${NAME}` in a value; throws on a name `vars` lacks. */
export function substitute(value: string, vars: Readonly<Record<string, string>>): string {
  return value.replace(PLACEHOLDER, (_whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const v = vars[name];
    if (v === undefined) throw new Error(`placeholder $${name} has no value (give --var ${name}=...)`);
    return v;
  });
}

/** The INI text for a case's config, the way etmem's test writer lays it out. */
export function writeEtmemConfig(config: CaseConfig, vars: Readonly<Record<string, string>> = {}): string {
  let out = '';
  for (const [section, keys] of Object.entries(config)) {
    out += `[${section}]\n`;
    for (const [key, value] of Object.entries(keys)) out += `${key}=${substitute(value, vars)}\n`;
  }
  return out;
}

/** Cases by id from the JSON file next to this script (or `file`). */
export function loadCases(file?: string): Map<string, LltCase> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // From dist/test/conformance/ the JSON is three levels up, in the source tree.
  const candidates = file ? [file] : [path.join(here, 'etmem-llt-cases.json'), path.join(here, '..', '..', '..', 'test', 'conformance', 'etmem-llt-cases.json')];
  let lastError: unknown;
  for (const f of candidates) {
    try {
      const doc = JSON.parse(readFileSync(f, 'utf8')) as { cases: LltCase[] };
      return new Map(doc.cases.map((c) => [c.id, c]));
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot read etmem-llt-cases.json: ${String(lastError)}`);
}

/**
 * What libnuma's numa_num_configured_nodes() counts, which get_node_pair()
 * and etmemd's cslide use: the nodes that have memory (has_memory lists them).
 */
function hostNodeCount(sysNodeDir = '/sys/devices/system/node'): number {
  try {
    const text = readFileSync(path.join(sysNodeDir, 'has_memory'), 'utf8').trim();
    // "0-3" or "0,2-3": count the ids.
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    return n;
  } catch {
    return 1;
  }
}

function main(argv: string[]): number {
  const positional: string[] = [];
  const vars: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--var') {
      const kv = argv[++i];
      const eq = kv?.indexOf('=') ?? -1;
      if (kv === undefined || eq <= 0) {
        process.stderr.write('--var needs NAME=VALUE\n');
        return 2;
      }
      vars[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else {
      positional.push(a);
    }
  }
  const [id, outFile] = positional;
  if (id === undefined || positional.length > 2) {
    process.stderr.write('usage: write-etmem-config CASE_ID [out.ini] [--var NAME=VALUE]...\n');
    return 2;
  }
  const c = loadCases().get(id);
  if (!c) {
    process.stderr.write(`no case ${JSON.stringify(id)}\n`);
    return 1;
  }
  if (!c.config) {
    process.stderr.write(`case ${id} (${c.kind}) has no config file\n`);
    return 1;
  }
  vars.NODE_PAIR ??= lltNodePair(hostNodeCount());
  let text: string;
  try {
    text = writeEtmemConfig(c.config, vars);
  } catch (err) {
    process.stderr.write(`case ${id}: ${(err as Error).message}\n`);
    return 1;
  }
  // etmemd accepts only root:root files of mode 0600 or 0400; the caller chowns.
  if (outFile) writeFileSync(outFile, text, { mode: 0o600 });
  else process.stdout.write(text);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
