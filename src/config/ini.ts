/**
 * etmem's INI form: `[project]`, `[engine]`, `[task]` sections of
 * `key=value` lines. etmem reads it with glib's GKeyFile, whose rules are
 * kept: a line whose first non-blank character is `#` is a comment, blanks
 * around the key and around `=` are ignored, names are case-sensitive, a
 * key before any section is an error.
 *
 * Differences from etmem, on purpose: every section header starts a new
 * object (GKeyFile merges sections of the same name, so an etmem file can
 * hold one project, one engine and one task); a `#` after a blank starts a
 * comment to the end of the line (GKeyFile keeps it in the value, so
 * `loop=3  # scans` would be an error there and `eng_name=w  # x` a silent
 * surprise; a `#` with no blank before it stays in the value, and no etmem
 * value can hold a blank followed by `#`); trailing blanks of a value are
 * dropped; a key set twice in one section, an unknown section and text
 * after `]` are errors instead of "last one wins" or being ignored. Values
 * are taken verbatim: GKeyFile's `\s`, `\n` escapes are not decoded (no
 * etmem key needs them).
 */
import { SECTION_KINDS, badKey, badSyntax, type RawSection, type SectionKind } from './raw.js';

/** The line up to a `#` that follows a blank (linear: no regex backtracking on long blank runs). */
function withoutComment(line: string): string {
  for (let i = line.indexOf('#'); i > 0; i = line.indexOf('#', i + 1)) {
    if (/\s/.test(line[i - 1]!)) return line.slice(0, i).trimEnd();
  }
  return line;
}

export function parseIni(text: string): RawSection[] {
  const sections: RawSection[] = [];
  const counts: Record<SectionKind, number> = { project: 0, engine: 0, task: 0 };
  let current: RawSection | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const content = withoutComment(line);
    if (content.startsWith('[')) {
      const header = /^\[([^\]]*)\]$/.exec(content);
      if (!header) throw badSyntax(lineNo, 'malformed section header', line, '[project], [engine] or [task] alone on its line');
      const kind = header[1]!.trim();
      if (!(SECTION_KINDS as readonly string[]).includes(kind)) {
        throw badSyntax(lineNo, 'unknown section', line, '[project], [engine] or [task]');
      }
      current = { kind: kind as SectionKind, index: counts[kind as SectionKind]++, line: lineNo, entries: new Map() };
      sections.push(current);
      continue;
    }
    const eq = content.indexOf('=');
    if (eq < 0) throw badSyntax(lineNo, 'not a section header, comment or key=value line', line, '[section], # comment or key=value');
    const key = content.slice(0, eq).trim();
    const value = content.slice(eq + 1).trim();
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
