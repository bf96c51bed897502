/**
 * Edit one top-level table of a TOML document at the text level, keeping every
 * other byte (comments, blank lines, key order, other tables) as written.
 * smol-toml can parse and stringify but drops comments, so the edit is done on
 * the text and then checked by parsing the result: the edited table must hold
 * exactly the new values and every other table must be unchanged.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'smol-toml';

type Table = Record<string, unknown>;

interface Header {
  path: string[];
  /** `[[path]]`: an element of an array of tables. */
  array: boolean;
  /** Start of the header's line. */
  start: number;
  /** After the header's line (its newline included). */
  end: number;
}

interface Pair {
  /** The table the pair sits in (`[]` before the first header). */
  table: string[];
  key: string[];
  start: number;
  valueStart: number;
  valueEnd: number;
  /** After the pair's last line (trailing comment and newline included). */
  end: number;
}

/** Where headers and key/value pairs are in a valid TOML text. */
function scan(text: string): { headers: Header[]; pairs: Pair[] } {
  const headers: Header[] = [];
  const pairs: Pair[] = [];
  let table: string[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const skipBlanks = () => { while (text[i] === ' ' || text[i] === '\t') i++; };
  const skipLine = () => {
    while (i < text.length && text[i] !== '\n') i++;
    if (i < text.length) i++;
  };
  const skipString = () => {
    const quote = text[i]!;
    const escapes = quote === '"';
    if (text.startsWith(quote.repeat(3), i)) {
      i += 3;
      while (i < text.length) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text.startsWith(quote.repeat(3), i)) {
          // A closing run may be 3 to 5 quotes: up to two belong to the content.
          let run = 3;
          while (run < 5 && text[i + run] === quote) run++;
          i += run;
          return;
        } else i++;
      }
      return;
    }
    i++;
    while (i < text.length && text[i] !== quote) i += escapes && text[i] === '\\' ? 2 : 1;
    i++;
  };
  /** Read a (dotted, maybe quoted) key up to `stop`; smol-toml decodes it. */
  const readKey = (stop: string): string[] => {
    const from = i;
    while (i < text.length && text[i] !== stop) {
      if (text[i] === '"' || text[i] === "'") skipString();
      else i++;
    }
    let node = parse(`${text.slice(from, i)} = 0`) as Table;
    const path: string[] = [];
    for (;;) {
      const [key] = Object.keys(node);
      path.push(key!);
      if (typeof node[key!] !== 'object') return path;
      node = node[key!] as Table;
    }
  };
  const skipValue = () => {
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"' || c === "'") skipString();
      else if (c === '[' || c === '{') { depth++; i++; }
      else if (c === ']' || c === '}') { depth--; i++; }
      else if (c === '#') { if (depth === 0) return; skipLine(); }
      else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) { if (depth === 0) return; i++; }
      else i++;
    }
  };

  while (i < text.length) {
    const start = i;
    skipBlanks();
    const c = text[i];
    if (c === '\n' || c === '\r' || c === '#') { skipLine(); continue; }
    if (c === undefined) break;
    if (c === '[') {
      const array = text[i + 1] === '[';
      i += array ? 2 : 1;
      table = readKey(']');
      skipLine();
      headers.push({ path: table, array, start, end: i });
      continue;
    }
    const key = readKey('=');
    i++;
    skipBlanks();
    const valueStart = i;
    skipValue();
    let valueEnd = i;
    while (valueEnd > valueStart && /\s/.test(text[valueEnd - 1]!)) valueEnd--;
    skipLine();
    pairs.push({ table, key, start, valueStart, valueEnd, end: i });
  }
  return { headers, pairs };
}

/** A value as written after `key = `, on one line (tables inline: `{ a = 1 }`). */
function inlineValue(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '[]' : `[ ${value.map(inlineValue).join(', ')} ]`;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const pairs = Object.entries(value).map(([k, v]) => `${formatKey(k)} = ${inlineValue(v)}`);
    return pairs.length === 0 ? '{}' : `{ ${pairs.join(', ')} }`;
  }
  return stringify({ x: value }).slice('x = '.length, -1);
}

const formatKey = (key: string) => stringify({ [key]: 0 }).slice(0, -' = 0\n'.length);

const lineStartBefore = (text: string, at: number) => text.lastIndexOf('\n', at - 2) + 1;

/** Comment lines right above `at` (no blank line between), not inside anything before `floor`. */
function attachedCommentsStart(text: string, at: number, floor: number): number {
  let start = at;
  while (start > floor) {
    const prev = lineStartBefore(text, start);
    if (prev < floor || !text.slice(prev, start).trimStart().startsWith('#')) break;
    start = prev;
  }
  return start;
}

interface Edit { from: number; to: number; text: string }

const applyEdits = (text: string, edits: Edit[]) =>
  [...edits].sort((a, b) => b.from - a.from).reduce((t, e) => t.slice(0, e.from) + e.text + t.slice(e.to), text);

/** Key-level edits of a table written as one `[name]` block of plain `key = value` lines; undefined otherwise. */
function editInPlace(text: string, name: string, old: Table, values: Table, scanned: ReturnType<typeof scan>, eol: string): Edit[] | undefined {
  const { headers, pairs } = scanned;
  const own = headers.filter((h) => h.path[0] === name);
  const rootPairs = pairs.filter((p) => p.table.length === 0 && p.key[0] === name);
  if (own.length !== 1 || own[0]!.path.length !== 1 || own[0]!.array || rootPairs.length > 0) return undefined;
  const header = own[0]!;
  const body = pairs.filter((p) => p.start >= header.end && p.table === header.path);
  if (body.some((p) => p.key.length !== 1)) return undefined;
  const edits: Edit[] = [];
  const present = new Set<string>();
  for (const pair of body) {
    const key = pair.key[0]!;
    present.add(key);
    if (!(key in values)) edits.push({ from: pair.start, to: pair.end, text: '' });
    else if (!sameValue(old[key], values[key])) edits.push({ from: pair.valueStart, to: pair.valueEnd, text: inlineValue(values[key]) });
  }
  const added = Object.keys(values).filter((key) => !present.has(key));
  if (added.length > 0) {
    const at = body.length > 0 ? body[body.length - 1]!.end : header.end;
    const lead = at === text.length && !text.endsWith('\n') ? eol : '';
    const lines = added.map((key) => `${formatKey(key)} = ${inlineValue(values[key])}${eol}`);
    edits.push({ from: at, to: at, text: lead + lines.join('') });
  }
  return edits;
}

/**
 * Edits removing everything that defines `name`, and where a replacement table
 * goes (the first header's line; its comments stay when `replacing`).
 */
function removal(text: string, name: string, scanned: ReturnType<typeof scan>, replacing: boolean): { edits: Edit[]; insertAt: number } {
  const { headers, pairs } = scanned;
  const edits: Edit[] = [];
  let insertAt = text.length;
  const previousItemEnd = (at: number) =>
    Math.max(0, ...headers.map((h) => h.end).filter((end) => end <= at), ...pairs.map((p) => p.end).filter((end) => end <= at));
  headers.forEach((header, index) => {
    if (header.path[0] !== name) return;
    const next = headers[index + 1];
    const first = insertAt === text.length;
    let from = replacing && first ? header.start : attachedCommentsStart(text, header.start, previousItemEnd(header.start));
    const to = next ? attachedCommentsStart(text, next.start, previousItemEnd(next.start)) : text.length;
    // The last table takes the blank lines above it along, so the file does not end in them.
    while (!replacing && to === text.length && from > 0 && /\n[ \t]*\r?\n$/.test(text.slice(0, from))) from = lineStartBefore(text, from);
    edits.push({ from, to, text: '' });
    if (first) insertAt = from;
  });
  for (const pair of pairs) {
    if (pair.table.length === 0 && pair.key[0] === name) edits.push({ from: pair.start, to: pair.end, text: '' });
  }
  return { edits, insertAt };
}

/** `base` with `block` appended after one blank line. */
function append(base: string, block: string, eol: string): string {
  if (base.trim() === '') return block;
  const trimmed = base.replace(/\s+$/, '');
  return `${trimmed}${eol}${eol}${block}`;
}

/** Deep equality of TOML values, whatever their prototypes (smol-toml's objects have none). */
const sameValue = (a: unknown, b: unknown) => isDeepStrictEqual(structuredClone(a), structuredClone(b));

/**
 * `text` with top-level table `name` set to `values` (added at the end when new),
 * or removed when `values` is undefined. Everything else is kept byte for byte.
 * `text` must be valid TOML (parse it first to report errors to the user).
 */
export function setTable(text: string, name: string, values: Table | undefined): string {
  const before = parse(text) as Table;
  const scanned = scan(text);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let result: string;
  const inPlace = values && name in before ? editInPlace(text, name, before[name] as Table, values, scanned, eol) : undefined;
  if (inPlace) {
    result = applyEdits(text, inPlace);
  } else {
    const { edits, insertAt } = removal(text, name, scanned, values !== undefined);
    result = applyEdits(text, edits);
    if (values) {
      const at = insertAt - edits.filter((e) => e.to <= insertAt).reduce((n, e) => n + e.to - e.from, 0);
      const table = stringify({ [name]: values }).replace(/\n/g, eol);
      const rest = result.slice(at);
      result = rest.trim() === '' ? append(result.slice(0, at), table, eol) : result.slice(0, at) + table + eol + rest;
    }
  }
  verify(before, parse(result) as Table, name, values);
  return result;
}

function verify(before: Table, after: Table, name: string, values: Table | undefined): void {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  keys.delete(name);
  const othersKept = [...keys].every((key) => sameValue(before[key], after[key]));
  const tableSet = values === undefined ? !(name in after) : sameValue(after[name], values);
  if (!othersKept || !tableSet) throw new Error(`editing table [${name}] would change other content; nothing was written`);
}
