/**
 * Reads typed keys out of one raw section, turning a FieldProblem from a
 * value parser (fields.ts) into the config error naming section, key, line,
 * value and allowed form.
 */
import type { VirtTierError } from '../errors.js';
import { FieldProblem } from './fields.js';
import { badKey, badValue, type RawSection } from './raw.js';

/**
 * The allowed form of a key, for "missing required key" errors. Every
 * value parser refuses the empty string with its allowed form, so asking it
 * keeps the two messages from drifting apart.
 */
function allowedOf(parse: (text: string) => unknown): string | undefined {
  try {
    parse('');
  } catch (err) {
    if (err instanceof FieldProblem) return err.allowed;
  }
  return undefined;
}

export class SectionReader {
  constructor(readonly section: RawSection) {}

  /** The first key (in file order) outside `known`, as an error; `what` names the section kind, e.g. `a cslide engine`. */
  rejectUnknownKeys(known: readonly string[], what: string): void {
    for (const [key, entry] of this.section.entries) {
      if (!known.includes(key)) throw badKey(this.section, key, `unknown key for ${what}`, known.join(', '), entry.line);
    }
  }

  has(key: string): boolean {
    return this.section.entries.has(key);
  }

  text(key: string): string | undefined {
    return this.section.entries.get(key)?.value;
  }

  line(key: string): number | undefined {
    return this.section.entries.get(key)?.line ?? this.section.line;
  }

  required<T>(key: string, parse: (text: string) => T): T {
    const entry = this.section.entries.get(key);
    if (entry === undefined) throw this.missing(key, allowedOf(parse));
    return this.parse(key, entry.value, parse);
  }

  optional<T>(key: string, parse: (text: string) => T): T | undefined {
    const entry = this.section.entries.get(key);
    return entry === undefined ? undefined : this.parse(key, entry.value, parse);
  }

  missing(key: string, allowed?: string): VirtTierError {
    return badKey(this.section, key, 'missing required key', allowed);
  }

  /** A value error for a rule the parsers cannot see alone (ranges that depend on other keys). */
  invalid(key: string, why: string, allowed: string): VirtTierError {
    return badValue(this.section, key, this.text(key) ?? '', allowed, why);
  }

  private parse<T>(key: string, value: string, parse: (text: string) => T): T {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof FieldProblem) throw badValue(this.section, key, value, err.allowed, err.why);
      throw err;
    }
  }
}
