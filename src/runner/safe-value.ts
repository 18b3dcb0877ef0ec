/**
 * Turns whatever a plugin hands the daemon (stats, command results) into
 * plain JSON data, in the plugin's own thread, before it crosses to the
 * daemon: a BigInt becomes its decimal string, a cycle the string
 * "[circular]", a getter or proxy that throws "[unreadable: message]",
 * functions and symbols are left out (as JSON.stringify does). Nesting
 * deeper than SAFE_VALUE_MAX_DEPTH is cut ("[too deep]"); a value whose
 * JSON would exceed the byte budget throws a RangeError naming the limit,
 * which the caller reports as the plugin's error. The daemon then only ever
 * holds data that JSON.stringify and structured clone take as they are.
 */

export const SAFE_VALUE_MAX_BYTES = 1024 * 1024;
export const SAFE_VALUE_MAX_DEPTH = 64;

function describeThrow(err: unknown): string {
  try {
    return `[unreadable: ${err instanceof Error ? err.message : String(err)}]`;
  } catch {
    return '[unreadable]';
  }
}

/** Plain JSON data for `value`; throws RangeError past `maxBytes` of JSON. */
export function toSafeValue(value: unknown, maxBytes = SAFE_VALUE_MAX_BYTES): unknown {
  let budget = maxBytes;
  const spend = (bytes: number): void => {
    budget -= bytes;
    if (budget < 0) throw new RangeError(`value larger than ${maxBytes} bytes of JSON`);
  };
  const ancestors = new Set<object>();

  const walk = (v: unknown, depth: number): unknown => {
    switch (typeof v) {
      case 'string':
        spend(v.length + 2);
        return v;
      case 'number':
        spend(8);
        return Number.isFinite(v) ? v : null;
      case 'boolean':
        spend(5);
        return v;
      case 'bigint': {
        const s = v.toString();
        spend(s.length + 2);
        return s;
      }
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
    }
    if (v === null) {
      spend(4);
      return null;
    }
    const obj = v as object;
    if (ancestors.has(obj)) {
      spend(12);
      return '[circular]';
    }
    if (depth >= SAFE_VALUE_MAX_DEPTH) {
      spend(12);
      return '[too deep]';
    }
    ancestors.add(obj);
    try {
      let toJSON: unknown;
      try {
        toJSON = (obj as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === 'function') return walk((toJSON as () => unknown).call(obj), depth + 1);
      } catch (err) {
        return describeThrow(err);
      }
      let isArray: boolean;
      let keys: string[];
      try {
        isArray = Array.isArray(obj);
        keys = isArray ? [] : Object.keys(obj);
      } catch (err) {
        return describeThrow(err);
      }
      if (isArray) {
        const arr = obj as unknown[];
        const out: unknown[] = [];
        let length: number;
        try {
          length = arr.length;
        } catch (err) {
          return describeThrow(err);
        }
        spend(2);
        for (let i = 0; i < length; i++) {
          let item: unknown;
          try {
            item = arr[i];
          } catch (err) {
            item = describeThrow(err);
          }
          const w = walk(item, depth + 1);
          spend(1);
          out.push(w === undefined ? null : w);
        }
        return out;
      }
      const out: Record<string, unknown> = {};
      spend(2);
      for (const key of keys) {
        let item: unknown;
        try {
          item = (obj as Record<string, unknown>)[key];
        } catch (err) {
          item = describeThrow(err);
        }
        const w = walk(item, depth + 1);
        if (w === undefined) continue;
        spend(key.length + 4);
        out[key] = w;
      }
      return out;
    } finally {
      ancestors.delete(obj);
    }
  };
  return walk(value, 0);
}
