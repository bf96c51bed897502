/**
 * The parts of S3's XML replies the provider reads: a ListObjectsV2 page (keys, sizes,
 * common prefixes, continuation) and an error's Code and Message. S3 writes these in one
 * fixed shape (no CDATA, no attributes on these elements, the five entities and numeric
 * references escaped), so a scan for the elements is enough, and far cheaper than a DOM.
 */

export interface ListedObject {
  readonly key: string;
  readonly size: number;
}

export interface ListPage {
  readonly objects: ListedObject[];
  readonly prefixes: string[];
  /** The token for the next page, when the listing is truncated. */
  readonly next: string | undefined;
}

const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([0-9a-fA-F]+));/g;
const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY, (_m, named: string | undefined, dec: string | undefined, hex: string | undefined) =>
    named !== undefined ? NAMED[named]! : String.fromCodePoint(Number.parseInt(dec ?? hex!, dec !== undefined ? 10 : 16)),
  );
}

/** The text of the first `<tag>` in `xml` between `from` and `to`, or undefined. */
function element(xml: string, tag: string, from = 0, to = xml.length): string | undefined {
  const open = xml.indexOf(`<${tag}>`, from);
  if (open < 0 || open >= to) return undefined;
  const start = open + tag.length + 2;
  const close = xml.indexOf(`</${tag}>`, start);
  if (close < 0 || close > to) return undefined;
  return unescapeXml(xml.slice(start, close));
}

/** Each `<tag>…</tag>` block's bounds, in order. */
function* blocks(xml: string, tag: string): Iterable<[number, number]> {
  const open = `<${tag}>`;
  const close = `</${tag}>`;
  for (let at = xml.indexOf(open); at >= 0; ) {
    const end = xml.indexOf(close, at);
    if (end < 0) throw new Error(`S3 listing: <${tag}> not closed`);
    yield [at + open.length, end];
    at = xml.indexOf(open, end + close.length);
  }
}

export function parseListPage(xml: string): ListPage {
  if (!xml.includes('<ListBucketResult')) throw new Error('S3 listing: the reply is not a ListBucketResult');
  const objects: ListedObject[] = [];
  for (const [from, to] of blocks(xml, 'Contents')) {
    const key = element(xml, 'Key', from, to);
    const size = Number(element(xml, 'Size', from, to) ?? 'NaN');
    if (key === undefined || !Number.isSafeInteger(size) || size < 0) throw new Error('S3 listing: an entry without Key or Size');
    objects.push({ key, size });
  }
  const prefixes: string[] = [];
  for (const [from, to] of blocks(xml, 'CommonPrefixes')) {
    const prefix = element(xml, 'Prefix', from, to);
    if (prefix !== undefined) prefixes.push(prefix);
  }
  // Text never holds a '<' (it is escaped), so these top-level elements are found anywhere.
  const truncated = element(xml, 'IsTruncated')?.trim() === 'true';
  const next = truncated ? element(xml, 'NextContinuationToken') : undefined;
  if (truncated && !next) throw new Error('S3 listing: truncated without a NextContinuationToken');
  return { objects, prefixes, next };
}

/** `<Error><Code>…</Code><Message>…</Message></Error>`, as far as it is there. */
export function parseError(xml: string): { code?: string; message?: string } {
  const code = element(xml, 'Code');
  const message = element(xml, 'Message');
  return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
}
