/**
 * etmem's INI form: `[project]`, `[engine]`, `[task]` sections of
 * `key=value` lines. etmem reads it with glib's GKeyFile, whose rules are
 * kept: a line whose first non-blank character is `#` is a comment (a `#`
 * later in a line is part of the value), blanks around the key and around
 * `=` are ignored, names are case-sensitive, a key before any section is
 * an error.
 *
 * Differences from etmem, on purpose: every section header starts a new
 * object (GKeyFile merges sections of the same name, so an etmem file can
 * hold one project, one engine and one task); trailing blanks of a value
 * are dropped too; a key set twice in one section, an unknown section and
 * text after `]` are errors instead of "last one wins" or being ignored.
 * Values are taken verbatim: GKeyFile's `\s`, `\n` escapes are not decoded
 * (no etmem key needs them).
 */
import { SECTION_KINDS, badKey, badSyntax, type RawSection, type SectionKind } from './raw.js';

export function parseIni(text: string): RawSection[] {
  const sections: RawSection[] = [];
  const counts: Record<SectionKind, number> = { project: 0, engine: 0, task: 0 };
  let current: RawSection | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const header = /^\[([^\]]*)\]$/.exec(line);
      if (!header) throw badSyntax(lineNo, 'malformed section header', line, '[project], [engine] or [task] alone on its line');
      const kind = header[1]!.trim();
      if (!(SECTION_KINDS as readonly string[]).includes(kind)) {
        throw badSyntax(lineNo, 'unknown section', line, '[project], [engine] or [task]');
      }
      current = { kind: kind as SectionKind, index: counts[kind as SectionKind]++, line: lineNo, entries: new Map() };
      sections.push(current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw badSyntax(lineNo, 'not a section header, comment or key=value line', line, '[section], # comment or key=value');
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === '') throw badSyntax(lineNo, 'key=value line without a key', line, 'key=value');
    if (!current) throw badSyntax(lineNo, 'key=value line before any section', line, 'a [project], [engine] or [task] header first');
    const first = current.entries.get(key);
    if (first) {
      throw badKey(current, key, `duplicate key (first set on line ${first.line})`, 'each key once per section', lineNo);
    }
    current.entries.set(key, { value, line: lineNo });
  }
  return sections;
}
