/**
 * The shape both file forms are read into before the one schema
 * (schema.ts) checks them: a list of sections, each a set of `key = value`
 * strings with the line each came from. INI (ini.ts) and YAML (yaml.ts)
 * only produce this; every key, range and error lives in the schema, so
 * the two forms accept the same keys and fail with the same errors.
 */
import { VirtTierError, invalidField } from '../errors.js';

export type SectionKind = 'project' | 'engine' | 'task';

export const SECTION_KINDS: readonly SectionKind[] = ['project', 'engine', 'task'];

export interface RawEntry {
  /** the value as written, surrounding whitespace removed */
  value: string;
  /** 1-based line of the key, when known */
  line?: number;
}

export interface RawSection {
  kind: SectionKind;
  /** 0-based index among the sections of this kind, in file order */
  index: number;
  /** 1-based line of the section header (INI) or list item (YAML) */
  line?: number;
  /** keys in file order */
  entries: Map<string, RawEntry>;
  /** names the section in errors instead of `kind[index]` (values that did not come from a file: `task "t1"`) */
  label?: string;
}

/** The most of a config file's own text an error quotes. */
export const EXCERPT_CHARS = 40;

/**
 * A short, printable excerpt of text that came from a config file. Errors
 * reach the peer that asked for the add, and the daemon (root) read the
 * file: an error must not become a way to read a file, so it never quotes
 * more than EXCERPT_CHARS characters, with control and format characters
 * (NUL of /proc/PID/environ, escape sequences) shown as `?`.
 */
export function excerpt(text: string, max = EXCERPT_CHARS): string {
  const chars = [...text];
  const shown = chars.slice(0, max).join('').replace(/\p{C}/gu, '?');
  return chars.length <= max ? shown : `${shown}...(${chars.length} characters)`;
}

/** `task[2]` or `task[2].T`: the field name used in every config error. */
export function fieldName(section: Pick<RawSection, 'kind' | 'index' | 'label'>, key?: string): string {
  return `${section.label ?? `${section.kind}[${section.index}]`}${key === undefined ? '' : `.${excerpt(key)}`}`;
}

function atLine(err: VirtTierError, line: number | undefined): VirtTierError {
  if (line !== undefined) err.message = `line ${line}: ${err.message}`;
  return err;
}

/** A value outside its allowed form or range: `line 14: task[2].T: out of range "99"; allowed: 0..36`. */
export function badValue(section: RawSection, key: string, written: string, allowed: string, why: string): VirtTierError {
  const line = section.entries.get(key)?.line ?? section.line;
  const value = excerpt(written);
  const err = invalidField(fieldName(section, key), value, allowed, why);
  // invalidField's detail (field, value, allowed) as is; the message with a colon before the value, which reads
  // better after the longer reasons given here ("pair 2: node 2 appears twice: \"0,2;2,3\"").
  err.message = `${err.field}: ${why}: ${JSON.stringify(value)}; allowed: ${allowed}`;
  return atLine(err, line);
}

/** A problem with a key rather than its value (missing, unknown, duplicate, conflicting). */
export function badKey(section: Pick<RawSection, 'kind' | 'index' | 'line' | 'label'>, key: string, why: string, allowed?: string, line?: number): VirtTierError {
  const field = fieldName(section, key);
  const message = `${field}: ${why}${allowed === undefined ? '' : `; allowed: ${allowed}`}`;
  return atLine(new VirtTierError('OPT_INVAL', message, { field, allowed }), line ?? section.line);
}

/** A syntax error of the file itself (no section or key to name). */
export function badSyntax(line: number | undefined, why: string, written: string, allowed: string): VirtTierError {
  const text = excerpt(written);
  const message = `${why}: ${JSON.stringify(text)}; allowed: ${allowed}`;
  return atLine(new VirtTierError('OPT_INVAL', message, { field: line === undefined ? 'file' : `line ${line}`, value: text, allowed }), line);
}

/**
 * Runs `read` and answers its OPT_INVAL as OPT_INTER_ERR, keeping message
 * and detail. etmem returns OPT_INTER_ERR for every engine and task key
 * past the identity keys (etmemd_project.c etmemd_project_add_engine and
 * etmemd_project_add_task: the engine's fill function failed), and its
 * own tests pin that code, so a file written for etmem gets the same code.
 */
export function asInternal<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw err instanceof VirtTierError ? internalError(err) : err;
  }
}

/** The same error as OPT_INTER_ERR when it is OPT_INVAL (see asInternal). */
export function internalError(err: VirtTierError): VirtTierError {
  if (err.code !== 'OPT_INVAL') return err;
  return new VirtTierError('OPT_INTER_ERR', err.message, { field: err.field, value: err.value, allowed: err.allowed });
}
