/**
 * A safe, namespace-aware reader of domain XML into a small element tree.
 *
 * Domain XML comes from libvirt, but its <metadata> is written by whoever
 * may define domains, and `virt-tier policy --set` reads values from the
 * command line: treat it all as hostile. sax-js in strict mode never
 * expands entities beyond the five XML predefined ones and numeric
 * references; on top of that a DOCTYPE (where entity definitions would
 * live) is refused outright, as are documents over a byte limit, nesting
 * deeper than a limit, or more elements than a limit, so a hostile
 * document costs bounded time and memory.
 */
import sax from 'sax';
import { VirtTierError } from '../errors.js';

export interface XmlElement {
  /** namespace URI ('' for none) */
  uri: string;
  /** local name, without prefix */
  local: string;
  /** attributes without namespace, by local name (xmlns declarations excluded) */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** concatenated text directly inside this element */
  text: string;
}

export interface XmlLimits {
  maxBytes: number;
  maxDepth: number;
  maxElements: number;
}

/** Generous for any real domain XML (a large one is tens of KiB), small enough to bound a hostile one. */
export const DOMAIN_XML_LIMITS: XmlLimits = { maxBytes: 4 << 20, maxDepth: 64, maxElements: 100_000 };

/**
 * Parses `text` into its root element. Throws VirtTierError(OPT_INVAL)
 * naming `what` (e.g. `domain "vm1" XML`) for malformed or hostile input.
 */
export function parseXml(text: string, what: string, limits: XmlLimits = DOMAIN_XML_LIMITS): XmlElement {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) {
    throw new VirtTierError('OPT_INVAL', `${what}: ${bytes} bytes is more than the limit of ${limits.maxBytes}`, {
      field: what,
      value: `${bytes} bytes`,
      allowed: `at most ${limits.maxBytes} bytes`,
    });
  }
  const parser = sax.parser(true, { xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  let failure: VirtTierError | undefined;
  const fail = (why: string, allowed: string): never => {
    failure ??= new VirtTierError('OPT_INVAL', `${what}: ${why} (line ${parser.line + 1})`, { field: what, value: why, allowed });
    throw failure;
  };
  parser.onerror = (err: Error) => {
    fail(`malformed XML: ${err.message.split('\n')[0]}`, 'well-formed XML');
  };
  parser.ondoctype = () => fail('a DOCTYPE is not allowed', 'XML without DOCTYPE or entity declarations');
  parser.onopentag = (tag) => {
    if (++elements > limits.maxElements) fail(`more than ${limits.maxElements} elements`, `at most ${limits.maxElements} elements`);
    if (stack.length >= limits.maxDepth) fail(`nesting deeper than ${limits.maxDepth}`, `at most ${limits.maxDepth} levels`);
    const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const attr of Object.values(tag.attributes)) {
      if (attr.prefix === 'xmlns' || attr.name === 'xmlns') continue;
      if (attr.uri === '') attrs[attr.local] = attr.value;
    }
    const el: XmlElement = { uri: tag.uri, local: tag.local, attrs, children: [], text: '' };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else if (root) fail('more than one root element', 'one root element');
    else root = el;
    stack.push(el);
  };
  parser.onclosetag = () => {
    stack.pop();
  };
  parser.ontext = (t: string) => {
    const cur = stack[stack.length - 1];
    if (cur) cur.text += t;
  };
  parser.oncdata = parser.ontext;
  try {
    parser.write(text).close();
  } catch (err) {
    if (failure) throw failure;
    if (err instanceof VirtTierError) throw err;
    throw new VirtTierError('OPT_INVAL', `${what}: malformed XML: ${(err as Error).message.split('\n')[0]}`, { field: what, allowed: 'well-formed XML' });
  }
  if (failure) throw failure;
  if (!root) fail('no root element', 'one root element');
  return root!;
}

/** The first child element with this local name and namespace URI ('' = no namespace). */
export function child(el: XmlElement, local: string, uri = ''): XmlElement | undefined {
  return el.children.find((c) => c.local === local && c.uri === uri);
}

/** Every child element with this local name and namespace URI. */
export function childrenNamed(el: XmlElement, local: string, uri = ''): XmlElement[] {
  return el.children.filter((c) => c.local === local && c.uri === uri);
}

/** Escapes text for an XML attribute value or element content. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
