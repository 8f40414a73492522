/**
 * A small, strict XML parser for Pascal VOC annotation files: elements, attributes, text,
 * comments, CDATA, processing instructions and the five predefined entities plus numeric
 * character references. No DTDs, no namespaces.
 *
 * @module
 */
import { DataError } from "../utils/errors.ts";

/** One XML element: its tag, attributes, child elements and concatenated text content. */
export class XmlElement {
  /** Tag name. */
  readonly name: string;
  /** Attributes, entity-decoded. */
  readonly attrs: Record<string, string>;
  /** Child elements in document order. */
  readonly children: XmlElement[] = [];
  /** The element's own text (children's text excluded), entity-decoded, untrimmed. */
  text = "";

  /** An element with no children and no text yet. */
  constructor(name: string, attrs: Record<string, string> = {}) {
    this.name = name;
    this.attrs = attrs;
  }

  /** The first direct child named `name`, as ElementTree's `find`. */
  find(name: string): XmlElement | undefined {
    return this.children.find((c) => c.name === name);
  }

  /** All direct children named `name`, as ElementTree's `findall`. */
  findAll(name: string): XmlElement[] {
    return this.children.filter((c) => c.name === name);
  }

  /** The trimmed text of the direct child `name`, or undefined when the child is absent. */
  findText(name: string): string | undefined {
    const c = this.find(name);
    return c === undefined ? undefined : c.text.trim();
  }
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(s: string, fail: (msg: string) => never): string {
  if (!s.includes("&")) return s;
  return s.replace(/&([^;&\s]*);?/g, (m, body: string) => {
    if (!m.endsWith(";")) fail(`unterminated entity "${m}"`);
    if (body.startsWith("#")) {
      const hex = body.startsWith("#x") || body.startsWith("#X");
      const digits = body.slice(hex ? 2 : 1);
      if (!(hex ? /^[0-9A-Fa-f]{1,8}$/ : /^[0-9]{1,10}$/).test(digits)) {
        fail(`bad character reference "${m}"`);
      }
      const cp = parseInt(digits, hex ? 16 : 10);
      // XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
      const ok = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
      if (!ok) fail(`character reference "${m}" is not an XML character (code point ${cp})`);
      return String.fromCodePoint(cp);
    }
    const v = ENTITIES[body];
    if (v === undefined) fail(`unknown entity "${m}"`);
    return v;
  });
}

/**
 * Parses an XML document and returns its root element.
 *
 * @param text the document
 * @param name a file name for error messages
 * @throws {DataError} naming `name` and the line of the first syntax error
 *
 * @example
 * ```ts
 * import { parseXml } from "./xml.ts";
 * const root = parseXml("<annotation><size><width>640</width></size></annotation>");
 * if (!(root.find("size")?.findText("width") === "640")) throw new Error("unexpected");
 * ```
 */
export function parseXml(text: string, name = "<xml>"): XmlElement {
  let i = 0;
  const n = text.length;
  const fail = (msg: string): never => {
    const line = text.slice(0, i).split("\n").length;
    throw new DataError(`Cannot parse XML "${name}": line ${line}: ${msg}`);
  };
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const nameRe = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  const readName = (): string => {
    nameRe.lastIndex = i;
    const m = nameRe.exec(text);
    if (!m) fail(`expected a name at "${text.slice(i, i + 10)}"`);
    i += m![0].length;
    return m![0];
  };
  const skipWs = () => {
    while (i < n && /\s/.test(text[i])) i++;
  };
  while (i < n) {
    const lt = text.indexOf("<", i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.length > 0) {
      if (stack.length > 0) stack[stack.length - 1].text += decodeEntities(chunk, fail);
      else if (chunk.trim() !== "") fail("text outside the root element");
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith("<!--", i)) {
      const end = text.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      i = end + 3;
    } else if (text.startsWith("<![CDATA[", i)) {
      const end = text.indexOf("]]>", i + 9);
      if (end < 0) fail("unterminated CDATA section");
      if (stack.length === 0) fail("CDATA outside the root element");
      stack[stack.length - 1].text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith("<?", i)) {
      const end = text.indexOf("?>", i + 2);
      if (end < 0) fail("unterminated processing instruction");
      i = end + 2;
    } else if (text.startsWith("<!", i)) {
      // DOCTYPE and friends: skip to the matching ">" (internal subsets in brackets included)
      let depth = 0;
      let j = i + 2;
      for (; j < n; j++) {
        if (text[j] === "[") depth++;
        else if (text[j] === "]") depth--;
        else if (text[j] === ">" && depth <= 0) break;
      }
      if (j >= n) fail("unterminated declaration");
      i = j + 1;
    } else if (text.startsWith("</", i)) {
      i += 2;
      const tag = readName();
      skipWs();
      if (text[i] !== ">") fail(`expected ">" after "</${tag}"`);
      i++;
      const open = stack.pop();
      if (!open) fail(`closing tag "</${tag}>" has no opening tag`);
      if (open!.name !== tag) fail(`closing tag "</${tag}>" does not match "<${open!.name}>"`);
    } else {
      i++;
      const tag = readName();
      const attrs: Record<string, string> = {};
      for (;;) {
        skipWs();
        if (i >= n) fail(`unterminated tag "<${tag}"`);
        if (text[i] === ">" || text.startsWith("/>", i)) break;
        const key = readName();
        skipWs();
        if (text[i] !== "=") fail(`attribute "${key}" of "<${tag}>" has no value`);
        i++;
        skipWs();
        const q = text[i];
        if (q !== '"' && q !== "'") fail(`attribute "${key}" of "<${tag}>" is not quoted`);
        const end = text.indexOf(q, i + 1);
        if (end < 0) fail(`unterminated attribute "${key}"`);
        attrs[key] = decodeEntities(text.slice(i + 1, end), fail);
        i = end + 1;
      }
      const el = new XmlElement(tag, attrs);
      if (stack.length > 0) stack[stack.length - 1].children.push(el);
      else if (root) fail(`second root element "<${tag}>"`);
      else root = el;
      if (text.startsWith("/>", i)) i += 2;
      else {
        i++;
        stack.push(el);
      }
    }
  }
  if (stack.length > 0) fail(`element "<${stack[stack.length - 1].name}>" is not closed`);
  if (!root) fail("the document has no root element");
  return root!;
}
