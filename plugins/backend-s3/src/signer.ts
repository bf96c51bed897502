/**
 * AWS Signature Version 4 for S3 requests (header form), as the hot requests need it:
 * about 10 µs per request, against the SDK's middleware stack at 0.5-1 ms of CPU. The
 * signing key is derived once a day per credentials; credentials come from the options or
 * from the AWS SDK's own chain (profiles, SSO, instance roles), asked again before they expire.
 */
import { createHash, createHmac } from 'node:crypto';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly expiration?: Date | undefined;
}

export type CredentialSource = () => Promise<Credentials>;

/** The hash of an empty payload. */
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
/** Streamed bodies are not hashed into the signature (TLS, and core's own SHA-256, cover them). */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ escaped. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An object key as an S3 path: each byte escaped but `/` (S3 paths are not normalised or double-encoded). */
export const encodeKey = (key: string): string => uriEncode(key).replace(/%2F/g, '/');

/** `a=1&b=2`, keys sorted, both sides escaped: the canonical query and the one sent. */
export function canonicalQuery(query: Readonly<Record<string, string>> | undefined): string {
  if (!query) return '';
  return Object.keys(query)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(query[k]!)}`)
    .join('&');
}

/** Refresh credentials from the chain this long before they expire. */
const REFRESH_MS = 5 * 60_000;

export class Signer {
  readonly #region: string;
  readonly #source: CredentialSource;
  #credentials: Credentials | undefined;
  #pending: Promise<Credentials> | undefined;
  #keyDay = '';
  #keyFor: Credentials | undefined;
  #key: Buffer = Buffer.alloc(0);
  #second = -1;
  #amzDate = '';

  constructor(region: string, source: CredentialSource) {
    this.#region = region;
    this.#source = source;
  }

  /** Current credentials, from the source when none are held or they expire soon. */
  credentials(): Credentials | Promise<Credentials> {
    const held = this.#credentials;
    if (held && (held.expiration === undefined || held.expiration.getTime() - Date.now() > REFRESH_MS)) return held;
    this.#pending ??= this.#source().then(
      (fresh) => {
        this.#credentials = fresh;
        this.#pending = undefined;
        return fresh;
      },
      (err: unknown) => {
        this.#pending = undefined;
        throw err;
      },
    );
    return this.#pending;
  }

  /**
   * Sign a request: adds `x-amz-date`, `x-amz-content-sha256`, the session token and
   * `authorization` to `headers` (lower-case names; `host` must be among them). `path` and
   * `query` as sent (already escaped).
   */
  sign(credentials: Credentials, method: string, path: string, query: string, headers: Record<string, string>, payloadHash: string, now = Date.now()): void {
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#amzDate = new Date(second * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '');
    }
    const amzDate = this.#amzDate;
    const day = amzDate.slice(0, 8);
    headers['x-amz-date'] = amzDate;
    headers['x-amz-content-sha256'] = payloadHash;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    // host and every x-amz-* header are signed; the others (range, if-none-match, content-length) need not be.
    const names = Object.keys(headers)
      .filter((n) => n === 'host' || n.startsWith('x-amz-'))
      .sort();
    let canonicalHeaders = '';
    for (const n of names) canonicalHeaders += `${n}:${headers[n]!.trim()}\n`;
    const signed = names.join(';');
    const canonical = `${method}\n${path}\n${query}\n${canonicalHeaders}\n${signed}\n${payloadHash}`;
    const scope = `${day}/${this.#region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', this.#signingKey(credentials, day)).update(toSign).digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  }

  #signingKey(credentials: Credentials, day: string): Buffer {
    if (this.#keyDay !== day || this.#keyFor !== credentials) {
      let key = createHmac('sha256', `AWS4${credentials.secretAccessKey}`).update(day).digest();
      for (const part of [this.#region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
      this.#key = key;
      this.#keyDay = day;
      this.#keyFor = credentials;
    }
    return this.#key;
  }
}
