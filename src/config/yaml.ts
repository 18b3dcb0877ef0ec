/**
 * virt-tier's YAML form, read into the same sections as the INI form:
 *
 *   projects: [ {name, loop, ..., engines: [ {name, ..., tasks: [ {...} ]} ]} ]
 *   engines:  [ {project, name, ...} ]
 *   tasks:    [ {project, engine, name, ...} ]
 *
 * Flat lists and nesting mix freely. A nested engine takes its project's
 * name, a nested task its project's and engine's (`eng_name` for a
 * thirdparty engine); writing the key anyway is allowed if it agrees.
 *
 * Every value is taken as the text written in the file (the scalar's
 * source), not as the YAML type it resolves to, so `loop: 1.0` or
 * `loop: 0x10` fail exactly as they do in INI instead of becoming 1 and 16.
 * Empty values and `~`/`null` are the empty string. Anchors, aliases and
 * explicit tags (`!!str`, `!custom`) are refused wherever they stand, with
 * the line: an alias would let one list item silently stand for another,
 * and a tag would suggest a type that is never applied.
 */
import { createRequire } from 'node:module';
import type * as YamlPackage from 'yaml';
import type { Node, ParsedNode, YAMLMap } from 'yaml';
import { badKey, badSyntax, excerpt, type RawSection, type SectionKind } from './raw.js';

/*
 * The yaml package is loaded by the first YAML parse, synchronously (its
 * Node build is CommonJS): etmem's INI form, the packaged config's, never
 * needs it, and a daemon that imports it holds it for its lifetime.
 */
let yamlPackage: typeof YamlPackage | undefined;
const yaml = (): typeof YamlPackage => (yamlPackage ??= createRequire(import.meta.url)('yaml') as typeof YamlPackage);

const NESTED_LIST: Partial<Record<SectionKind, { key: string; kind: SectionKind }>> = {
  project: { key: 'engines', kind: 'engine' },
  engine: { key: 'tasks', kind: 'task' },
};

interface Implied {
  project?: string;
  engine?: string;
}

/**
 * Bounds on a YAML text's complexity, checked by the lexer before the
 * parser builds anything: the parser's time and memory grow with them (a
 * 10 MiB file of flow mappings took 20 s and 1.5 GB). Two million tokens
 * are some 40,000 one-line tasks; nesting deeper than 64 flow collections
 * has no meaning in this schema.
 */
export const YAML_MAX_TOKENS = 2_000_000;
export const YAML_MAX_FLOW_DEPTH = 64;

function checkComplexity(text: string): void {
  const allowed = `at most ${YAML_MAX_TOKENS} YAML tokens and ${YAML_MAX_FLOW_DEPTH} nested [ ] or { }`;
  let tokens = 0;
  let depth = 0;
  for (const token of new (yaml().Lexer)().lex(text)) {
    if (++tokens > YAML_MAX_TOKENS) throw badSyntax(undefined, 'too complex', `more than ${YAML_MAX_TOKENS} tokens`, allowed);
    if (token === '{' || token === '[') {
      if (++depth > YAML_MAX_FLOW_DEPTH) throw badSyntax(undefined, 'too complex', `more than ${YAML_MAX_FLOW_DEPTH} nested flow collections`, allowed);
    } else if (token === '}' || token === ']') {
      depth = Math.max(0, depth - 1);
    }
  }
}

export function parseYaml(text: string): RawSection[] {
  checkComplexity(text);
  const lineCounter = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const firstLine = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:$/, '');
    throw badSyntax(e.linePos?.[0]?.line, 'YAML syntax error', firstLine, 'a YAML mapping with projects, engines and tasks lists');
  }
  const lineOf = (node: Node | null | undefined): number | undefined =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  // One pass before anything is read, so no anchor or tag slips through a
  // place the section walk does not look at (a key, a list, a mapping).
  let refused: Error | undefined;
  yaml().visit(doc, {
    Node(_key, node) {
      const line = lineOf(node);
      if (yaml().isAlias(node)) refused = badSyntax(line, 'aliases are not supported', `*${node.source}`, 'plain values, without anchors, aliases or tags');
      else if (node.anchor) refused = badSyntax(line, 'anchors are not supported', `&${node.anchor}`, 'plain values, without anchors, aliases or tags');
      else if (node.tag) refused = badSyntax(line, 'tags are not supported', node.tag, 'plain values, without anchors, aliases or tags');
      return refused ? yaml().visit.BREAK : undefined;
    },
  });
  if (refused) throw refused;

  const sections: RawSection[] = [];
  const counts: Record<SectionKind, number> = { project: 0, engine: 0, task: 0 };

  const scalarText = (node: unknown, where: string, line: number | undefined): string => {
    if (node === null || node === undefined) return '';
    if (yaml().isAlias(node)) throw badSyntax(line, `${where}: anchors and aliases are not supported`, String(node.source), 'a plain value');
    if (!yaml().isScalar(node)) throw badSyntax(line, `${where}: expected a single value, got a list or mapping`, String(node), 'a plain value');
    if (node.value === null) return '';
    return String(node.source ?? node.value).trim();
  };

  const visitList = (node: unknown, kind: SectionKind, listKey: string, implied: Implied, line: number | undefined): void => {
    if (node === null || (yaml().isScalar(node) && node.value === null)) return; // `tasks:` with nothing under it
    if (!yaml().isSeq(node)) throw badSyntax(lineOf(node as ParsedNode) ?? line, `${listKey}: expected a list`, String(node), `a list of ${kind} mappings`);
    for (const item of node.items) visitSection(item, kind, implied, listKey);
  };

  const setImplied = (section: RawSection, key: 'project' | 'engine', value: string | undefined, parent: string): void => {
    if (value === undefined) return;
    const written = section.entries.get(key);
    if (written === undefined) {
      section.entries.set(key, { value, line: section.line });
    } else if (written.value !== value) {
      throw badKey(section, key, `is ${JSON.stringify(excerpt(written.value))} but the ${section.kind} is listed under ${parent} ${JSON.stringify(excerpt(value))}`, JSON.stringify(excerpt(value)), written.line);
    }
  };

  const visitSection = (node: unknown, kind: SectionKind, implied: Implied, listKey: string): void => {
    const line = lineOf(node as ParsedNode);
    if (!yaml().isMap(node)) throw badSyntax(line, `${listKey}: every item must be a mapping of keys`, String(node), `a ${kind} mapping`);
    const section: RawSection = { kind, index: counts[kind]++, line, entries: new Map() };
    sections.push(section);
    const nested = NESTED_LIST[kind];
    let nestedNode: unknown;
    let nestedLine: number | undefined;
    for (const pair of (node as YAMLMap).items) {
      const keyLine = lineOf(pair.key as ParsedNode) ?? line;
      const key = scalarText(pair.key, `${kind} key`, keyLine);
      if (nested && key === nested.key) {
        nestedNode = pair.value;
        nestedLine = keyLine;
        continue;
      }
      section.entries.set(key, { value: scalarText(pair.value, `${kind}[${section.index}].${key}`, keyLine), line: keyLine });
    }
    setImplied(section, 'project', implied.project, 'project');
    setImplied(section, 'engine', implied.engine, 'engine');
    if (nested && nestedNode !== undefined) {
      const name = section.entries.get('name')?.value;
      const inner: Implied =
        kind === 'project'
          ? { project: name }
          : { project: section.entries.get('project')?.value, engine: name === 'thirdparty' ? section.entries.get('eng_name')?.value : name };
      visitList(nestedNode, nested.kind, nested.key, inner, nestedLine);
    }
  };

  const root = doc.contents;
  if (root === null || (yaml().isScalar(root) && root.value === null)) return sections;
  if (!yaml().isMap(root)) throw badSyntax(lineOf(root), 'the document must be a mapping', String(root), 'projects:, engines:, tasks: lists');
  const topLevel: Record<string, SectionKind> = { projects: 'project', engines: 'engine', tasks: 'task' };
  for (const pair of root.items) {
    const keyLine = lineOf(pair.key as ParsedNode);
    const key = scalarText(pair.key, 'top-level key', keyLine);
    const kind = Object.hasOwn(topLevel, key) ? topLevel[key] : undefined;
    if (!kind) throw badSyntax(keyLine, 'unknown top-level key', key, 'projects, engines, tasks');
    visitList(pair.value, kind, key, {}, keyLine);
  }
  return sections;
}
