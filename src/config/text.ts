/** Text of either form -> validated ConfigDocument (see parse.ts for the map of this folder). */
import { buildDocument, buildObjectRefs } from './document.js';
import { parseIni } from './ini.js';
import type { ConfigDocument, HostFacts, ObjectRefs } from './types.js';
import { parseYaml } from './yaml.js';

export type ConfigFormat = 'ini' | 'yaml';

/** Parses and validates one configuration file's text. */
export function parseConfigText(text: string, format: ConfigFormat, host: HostFacts, opts: { allowEmpty?: boolean } = {}): ConfigDocument {
  const sections = format === 'yaml' ? parseYaml(text) : parseIni(text);
  return buildDocument(sections, host, opts);
}

/** Parses one configuration file's text for `obj del`: the identity keys of each object, nothing else. */
export function parseObjectRefsText(text: string, format: ConfigFormat): ObjectRefs {
  return buildObjectRefs(format === 'yaml' ? parseYaml(text) : parseIni(text));
}

/** `.yaml`/`.yml` files are YAML, anything else etmem's INI form. */
export function formatOfPath(file: string): ConfigFormat {
  return /\.ya?ml$/i.test(file) ? 'yaml' : 'ini';
}
