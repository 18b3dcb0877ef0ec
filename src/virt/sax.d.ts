/**
 * The part of sax-js (https://github.com/isaacs/sax-js, no bundled types)
 * that src/virt/xml.ts uses: a strict, namespace-aware push parser.
 */
declare module 'sax' {
  export interface QualifiedAttribute {
    name: string;
    value: string;
    prefix: string;
    local: string;
    uri: string;
  }
  export interface QualifiedTag {
    name: string;
    prefix: string;
    local: string;
    uri: string;
    attributes: Record<string, QualifiedAttribute>;
    isSelfClosing: boolean;
  }
  export interface SAXOptions {
    xmlns?: boolean;
    position?: boolean;
    trim?: boolean;
    normalize?: boolean;
    lowercase?: boolean;
  }
  export class SAXParser {
    constructor(strict: boolean, opt?: SAXOptions);
    line: number;
    column: number;
    ENTITIES: Record<string, string>;
    onerror: (err: Error) => void;
    ontext: (text: string) => void;
    oncdata: (text: string) => void;
    ondoctype: (doctype: string) => void;
    onprocessinginstruction: (pi: { name: string; body: string }) => void;
    onopentag: (tag: QualifiedTag) => void;
    onclosetag: (name: string) => void;
    write(chunk: string): SAXParser;
    close(): SAXParser;
  }
  export function parser(strict: boolean, opt?: SAXOptions): SAXParser;
}
