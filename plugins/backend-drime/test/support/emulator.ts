/**
 * An in-process emulator of the Drime Cloud API (as described in
 * /work/shared/reference/drime-api.md), on real HTTP on 127.0.0.1, awkward parts
 * included: a small Laravel page size, a root listing that answers entries from
 * everywhere, duplicate names, Bearer auth answering 401 JSON or an HTML page,
 * downloads that redirect to a second ("storage") server which honours or ignores
 * Range, S3 multipart with presigned part URLs on that storage server, trash vs
 * delete forever. Faults can be injected per endpoint (429 + Retry-After, 5xx,
 * dropped connections before or during the reply, incomplete uploads), and every
 * request is counted per endpoint.
 *
 * Test support only: contents live in memory.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import busboy from 'busboy';

export const ENDPOINTS = [
  'list',
  'createFolder',
  'upload',
  'multipartCreate',
  'signParts',
  'putPart',
  'multipartComplete',
  'multipartAbort',
  's3Entry',
  'download',
  'storageGet',
  'delete',
  'entry',
  'loggedUser',
  'spaceUsage',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export type Fault =
  /** Answer this status (JSON); `retryAfter` seconds go in `Retry-After`. */
  | { kind: 'status'; status: number; retryAfter?: number }
  /** Destroy the socket as soon as the request arrives, or once `afterBytes` of its body came in. */
  | { kind: 'drop-request'; afterBytes?: number }
  /** Do the work (create the entry, ...), then drop the connection halfway through the reply. */
  | { kind: 'drop-response' }
  /** Uploads only: store the entry as an incomplete upload (empty `users`, or a wrong `file_size`). */
  | { kind: 'incomplete'; wrongSize?: boolean };

/** One fault of every kind: what `chaos` draws from by default. */
export const ALL_FAULTS: readonly Fault[] = [
  { kind: 'status', status: 429, retryAfter: 1 },
  { kind: 'status', status: 429 },
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503 },
  { kind: 'drop-request' },
  { kind: 'drop-request', afterBytes: 1000 },
  { kind: 'drop-response' },
  { kind: 'incomplete' },
  { kind: 'incomplete', wrongSize: true },
];

export interface EmulatorOptions {
  apiKey?: string;
  workspaceId?: number;
  /** Largest page the paginator answers, whatever `perPage` asks (default 20). */
  pageSize?: number;
  /** Downloads answer 302 to the storage server (default true). */
  redirectDownloads?: boolean;
  /** The storage server honours `Range` (default true); false answers 200 with everything. */
  honourRange?: boolean;
  /** What `/cli/loggedUser` answers for a bad key (default `null-user`: 200 `{user: null}`). */
  badKeyReply?: 'null-user' | 'json-401' | 'html';
  /** Endpoints answering a bad key with an HTML login page instead of 401 JSON. */
  htmlAuthEndpoints?: Endpoint[];
  /** Largest `/uploads` file (default 30 MiB). */
  maxUploadSize?: number;
  /** Smallest multipart part but the last (default 5 MiB, as S3). */
  minPartSize?: number;
  /** ms each listing waits before it is answered, so that concurrent ones overlap (default 0). */
  listDelay?: number;
}

export interface StoredEntry {
  id: number;
  name: string;
  type: string;
  hash: string;
  file_size: number | null;
  parent_id: number | null;
  workspace_id: number;
  mime: string | null;
  extension: string | null;
  users: { id: number; email: string }[];
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

interface MultipartUpload {
  key: string;
  parts: Map<number, { etag: string; data: Buffer }>;
}

const USER = { id: 1, email: 'emulator@example.test', display_name: 'Emulator' };
const MiB = 1024 * 1024;
const API_PREFIX = '/api/v1';
const LOGIN_PAGE = '<!DOCTYPE html><html><head><title>Drime - Login</title></head><body><form action="/login"></form></body></html>';

export class DrimeEmulator {
  readonly apiKey: string;
  readonly options: Required<Omit<EmulatorOptions, 'apiKey'>>;
  /** Requests per endpoint since start (or `resetCounts`). */
  counts: Record<Endpoint, number> = zeroCounts();
  /** TCP connections accepted by the API server. */
  connections = 0;
  /** Called after each listing page is answered (tests change the folder between pages). */
  afterListPage: ((page: number, parentIds: string | null) => void) | undefined;
  /** Requests to the storage server (another origin) that carried an `Authorization` header. */
  storageAuthorizations = 0;
  /** Most listings being answered at once (since start or `resetCounts`). */
  peakListings = 0;
  #listings = 0;
  readonly #entries = new Map<number, StoredEntry>();
  readonly #contents = new Map<number, Buffer>();
  readonly #multipart = new Map<string, MultipartUpload>();
  readonly #objects = new Map<string, Buffer>();
  readonly #faults = new Map<Endpoint, Fault[]>();
  readonly #sockets = new Set<Socket>();
  #chaos: { rate: number; faults: readonly Fault[]; endpoints: Set<Endpoint>; random: () => number } | undefined;
  /** Faults met so far, per kind. */
  faultsMet: Record<string, number> = {};
  #nextId = 1;
  #api!: Server;
  #storage!: Server;

  private constructor(options: EmulatorOptions) {
    this.apiKey = options.apiKey ?? `7|${randomBytes(20).toString('hex')}`;
    this.options = {
      workspaceId: options.workspaceId ?? 0,
      pageSize: options.pageSize ?? 20,
      redirectDownloads: options.redirectDownloads ?? true,
      honourRange: options.honourRange ?? true,
      badKeyReply: options.badKeyReply ?? 'null-user',
      htmlAuthEndpoints: options.htmlAuthEndpoints ?? [],
      maxUploadSize: options.maxUploadSize ?? 30 * MiB,
      minPartSize: options.minPartSize ?? 5 * MiB,
      listDelay: options.listDelay ?? 0,
    };
  }

  static async start(options: EmulatorOptions = {}): Promise<DrimeEmulator> {
    const emulator = new DrimeEmulator(options);
    emulator.#api = await listen((req, res) => emulator.#routeApi(req, res), emulator.#sockets, () => emulator.connections++);
    emulator.#storage = await listen((req, res) => emulator.#routeStorage(req, res), emulator.#sockets);
    return emulator;
  }

  /** The API base URL (what `api_url` / `DRIME_API_URL` takes). */
  get url(): string {
    return `http://127.0.0.1:${port(this.#api)}${API_PREFIX}`;
  }

  get storageOrigin(): string {
    return `http://127.0.0.1:${port(this.#storage)}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([this.#api, this.#storage].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  // ---- test controls -------------------------------------------------------------

  /** The next `times` requests to `endpoint` meet `fault`. */
  inject(endpoint: Endpoint, fault: Fault, times = 1): void {
    const queue = this.#faults.get(endpoint) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.#faults.set(endpoint, queue);
  }

  clearFaults(): void {
    this.#faults.clear();
    this.#chaos = undefined;
  }

  /**
   * Random faults: each request to `endpoints` (default all) meets one of `faults`
   * with probability `rate`, drawn from a PRNG seeded with `seed` (reproducible).
   * `incomplete` only bites uploads; queued faults (`inject`) come first.
   */
  chaos(options: { rate: number; seed?: number; faults?: readonly Fault[]; endpoints?: Endpoint[] }): void {
    this.#chaos = {
      rate: options.rate,
      faults: options.faults ?? ALL_FAULTS,
      endpoints: new Set(options.endpoints ?? ENDPOINTS),
      random: mulberry32(options.seed ?? 1),
    };
  }

  /** Faults injected but not met yet. */
  pendingFaults(endpoint?: Endpoint): number {
    if (endpoint) return this.#faults.get(endpoint)?.length ?? 0;
    return [...this.#faults.values()].reduce((n, q) => n + q.length, 0);
  }

  resetCounts(): void {
    this.counts = zeroCounts();
    this.peakListings = 0;
  }

  get totalCalls(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** Live (not trashed) entries. */
  entries(): StoredEntry[] {
    return [...this.#entries.values()].filter((e) => !e.deleted_at);
  }

  trashed(): StoredEntry[] {
    return [...this.#entries.values()].filter((e) => e.deleted_at);
  }

  children(parentId: number | null): StoredEntry[] {
    return this.entries().filter((e) => e.parent_id === parentId);
  }

  /** Live entries at a `/`-separated path (several when names repeat); folders on the way by lowest id. */
  find(path: string): StoredEntry[] {
    const parts = path.split('/').filter(Boolean);
    let parent: number | null = null;
    for (const part of parts.slice(0, -1)) {
      const folder: StoredEntry | undefined = this.children(parent)
        .filter((e) => e.type === 'folder' && e.name === part)
        .sort((a, b) => a.id - b.id)[0];
      if (!folder) return [];
      parent = folder.id;
    }
    return this.children(parent)
      .filter((e) => e.name === parts.at(-1))
      .sort((a, b) => a.id - b.id);
  }

  content(id: number): Buffer | undefined {
    return this.#contents.get(id);
  }

  /** Store an entry directly (to set up duplicates, incomplete uploads, big folders). */
  addEntry(spec: { name: string; parentId: number | null; folder?: boolean; content?: Buffer; users?: boolean; fileSize?: number }): StoredEntry {
    const content = spec.content ?? Buffer.alloc(0);
    const entry = this.#create({
      name: spec.name,
      parentId: spec.parentId,
      type: spec.folder ? 'folder' : 'file',
      size: spec.folder ? null : (spec.fileSize ?? content.length),
      users: spec.users ?? true,
    });
    if (!spec.folder) this.#contents.set(entry.id, content);
    return entry;
  }

  // ---- API server ----------------------------------------------------------------

  async #routeApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) : '';
    const route = apiRoute(req.method ?? 'GET', path);
    if (!route) return json(res, 404, { message: `The route ${url.pathname} could not be found.` });
    const { endpoint, param } = route;
    this.counts[endpoint]++;
    const fault = this.#takeFault(endpoint);
    if (fault && this.#applyEarlyFault(fault, req, res)) return;
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return this.#unauthenticated(endpoint, req, res);
    const reply: Reply = { res, drop: fault?.kind === 'drop-response', incomplete: fault?.kind === 'incomplete' ? fault : undefined };
    try {
      switch (endpoint) {
        case 'list':
          return await this.#heldList(url, reply);
        case 'createFolder':
          return this.#createFolder(await readJson(req), reply);
        case 'upload':
          return await this.#upload(req, reply);
        case 'multipartCreate':
          return this.#multipartCreate(await readJson(req), reply);
        case 'signParts':
          return this.#signParts(await readJson(req), reply);
        case 'multipartComplete':
          return this.#multipartComplete(await readJson(req), reply);
        case 'multipartAbort':
          return this.#multipartAbort(await readJson(req), reply);
        case 's3Entry':
          return this.#s3Entry(await readJson(req), reply);
        case 'download':
          return this.#download(param!, req, reply);
        case 'delete':
          return this.#delete(await readJson(req), reply);
        case 'entry':
          return this.#entry(Number(param), reply);
        case 'loggedUser':
          return send(reply, 200, { user: USER });
        case 'spaceUsage':
          return send(reply, 200, { used: this.#used(), available: 1024 ** 4 });
        default:
          return json(res, 404, { message: 'not found' });
      }
    } catch (err) {
      if (!res.headersSent) json(res, 400, { message: (err as Error).message });
      else res.destroy();
    }
  }

  #takeFault(endpoint: Endpoint): Fault | undefined {
    let fault = this.#faults.get(endpoint)?.shift();
    const chaos = this.#chaos;
    if (!fault && chaos?.endpoints.has(endpoint) && chaos.random() < chaos.rate) {
      fault = chaos.faults[Math.floor(chaos.random() * chaos.faults.length)];
      if (fault?.kind === 'incomplete' && endpoint !== 'upload' && endpoint !== 's3Entry') fault = undefined;
    }
    if (fault) {
      const kind = fault.kind === 'status' ? String(fault.status) : fault.kind;
      this.faultsMet[kind] = (this.faultsMet[kind] ?? 0) + 1;
    }
    return fault;
  }

  /** Faults that stop the request before any work; true when the request is done with. */
  #applyEarlyFault(fault: Fault, req: IncomingMessage, res: ServerResponse): boolean {
    if (fault.kind === 'drop-request') {
      if (!fault.afterBytes) {
        req.socket.destroy();
        return true;
      }
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= fault.afterBytes!) req.socket.destroy();
      });
      req.on('end', () => req.socket.destroy());
      return true;
    }
    if (fault.kind === 'status') {
      const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
      const message = fault.status === 429 ? 'Too Many Attempts.' : 'Server Error';
      json(res, fault.status, { message }, headers);
      req.resume();
      return true;
    }
    return false;
  }

  #unauthenticated(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (endpoint === 'loggedUser') {
      if (this.options.badKeyReply === 'null-user') return json(res, 200, { user: null });
      if (this.options.badKeyReply === 'html') return html(res, 200, LOGIN_PAGE);
    } else if (this.options.htmlAuthEndpoints.includes(endpoint)) {
      return html(res, 200, LOGIN_PAGE);
    }
    json(res, 401, { message: 'Unauthenticated.' });
  }

  async #heldList(url: URL, reply: Reply): Promise<void> {
    this.peakListings = Math.max(this.peakListings, ++this.#listings);
    try {
      if (this.options.listDelay > 0) await sleep(this.options.listDelay);
      this.#list(url, reply);
    } finally {
      this.#listings--;
    }
  }

  #list(url: URL, reply: Reply): void {
    const parentIds = url.searchParams.get('parentIds');
    const workspaceId = Number(url.searchParams.get('workspaceId') ?? 0);
    // Without parentIds Drime answers entries from everywhere (clients filter parent_id == null).
    const all = this.entries()
      .filter((e) => e.workspace_id === workspaceId)
      .filter((e) => parentIds === null || parentIds.split(',').map(Number).includes(e.parent_id ?? -1))
      .sort((a, b) => b.id - a.id);
    const perPage = Math.max(1, Math.min(Number(url.searchParams.get('perPage')) || 50, this.options.pageSize));
    const page = Math.max(1, Number(url.searchParams.get('page')) || 1);
    const data = all.slice((page - 1) * perPage, page * perPage);
    send(reply, 200, {
      current_page: page,
      data,
      from: data.length ? (page - 1) * perPage + 1 : null,
      last_page: Math.max(1, Math.ceil(all.length / perPage)),
      per_page: perPage,
      to: data.length ? (page - 1) * perPage + data.length : null,
      total: all.length,
    });
    this.afterListPage?.(page, parentIds);
  }

  #createFolder(body: Record<string, unknown>, reply: Reply): void {
    const parentId = this.#parentIdOf(body.parentId);
    if (typeof body.name !== 'string' || !body.name) return send(reply, 422, { message: 'The name field is required.' });
    const folder = this.#create({ name: body.name, parentId, type: 'folder', size: null, users: true });
    send(reply, 200, { status: 'success', folder });
  }

  async #upload(req: IncomingMessage, reply: Reply): Promise<void> {
    const fields: Record<string, string> = {};
    let file: { name: string; data: Buffer } | undefined;
    let tooBig = false;
    await new Promise<void>((resolve, reject) => {
      const parser = busboy({ headers: req.headers, limits: { fileSize: this.options.maxUploadSize } });
      parser.on('field', (name, value) => (fields[name] = value));
      parser.on('file', (_name, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('limit', () => (tooBig = true));
        stream.on('end', () => (file = { name: info.filename ?? 'file', data: Buffer.concat(chunks) }));
      });
      parser.on('close', resolve);
      parser.on('error', reject);
      req.on('aborted', () => reject(new Error('client went away')));
      req.pipe(parser);
    });
    if (!file) return send(reply, 422, { message: 'The file field is required.' });
    if (tooBig) return send(reply, 422, { message: 'The file may not be greater than the upload limit.' });
    const parentId = this.#parentIdOf(fields.parentId);
    const name = (fields.relativePath ?? file.name).split('/').pop() || file.name;
    const entry = this.#storeFile(name, parentId, file.data, reply.incomplete);
    send(reply, 200, { status: 'success', fileEntry: entry });
  }

  #multipartCreate(body: Record<string, unknown>, reply: Reply): void {
    const uploadId = randomBytes(12).toString('base64url');
    const key = `uploads/${randomUUID()}/${randomUUID()}`;
    this.#multipart.set(uploadId, { key, parts: new Map() });
    send(reply, 200, { key, uploadId, filename: body.filename });
  }

  #signParts(body: Record<string, unknown>, reply: Reply): void {
    const upload = this.#upload_(body);
    const numbers = (body.partNumbers as number[] | undefined) ?? [];
    if (!upload) return send(reply, 404, { message: 'NoSuchUpload' });
    if (numbers.length > 10) return send(reply, 422, { message: 'At most 10 part numbers.' });
    const urls = numbers.map((partNumber) => ({
      partNumber,
      url: `${this.storageOrigin}/parts/${encodeURIComponent(String(body.uploadId))}/${partNumber}?X-Amz-Signature=${randomBytes(8).toString('hex')}`,
    }));
    send(reply, 200, { urls });
  }

  #multipartComplete(body: Record<string, unknown>, reply: Reply): void {
    const upload = this.#upload_(body);
    if (!upload) return send(reply, 404, { message: 'NoSuchUpload' });
    const parts = (body.parts as { PartNumber: number; ETag: string }[] | undefined) ?? [];
    const sorted = [...parts].sort((a, b) => a.PartNumber - b.PartNumber);
    const data: Buffer[] = [];
    for (const [i, part] of sorted.entries()) {
      const stored = upload.parts.get(part.PartNumber);
      // S3 takes ETags with or without their quotes (pydrime strips them).
      if (!stored || unquote(stored.etag) !== unquote(String(part.ETag))) return send(reply, 400, { message: `InvalidPart ${part.PartNumber}` });
      if (i < sorted.length - 1 && stored.data.length < this.options.minPartSize) return send(reply, 400, { message: 'EntityTooSmall' });
      data.push(stored.data);
    }
    this.#objects.set(upload.key, Buffer.concat(data));
    this.#multipart.delete(String(body.uploadId));
    send(reply, 200, { location: upload.key });
  }

  #multipartAbort(body: Record<string, unknown>, reply: Reply): void {
    this.#multipart.delete(String(body.uploadId));
    send(reply, 200, { status: 'success' });
  }

  #s3Entry(body: Record<string, unknown>, reply: Reply): void {
    const key = [...this.#objects.keys()].find((k) => k.split('/').pop() === body.filename);
    if (!key) return send(reply, 404, { message: 'No such object.' });
    const data = this.#objects.get(key)!;
    this.#objects.delete(key);
    const parentId = this.#parentIdOf(body.parentId);
    const name = String(body.relativePath ?? body.clientName).split('/').pop()!;
    const entry = this.#storeFile(name, parentId, data, reply.incomplete);
    send(reply, 200, { fileEntry: entry });
  }

  #download(hash: string, req: IncomingMessage, reply: Reply): void {
    const entry = this.entries().find((e) => e.hash === decodeURIComponent(hash) && e.type !== 'folder');
    if (!entry) return send(reply, 404, { message: 'No query results for model [App\\FileEntry].' });
    if (this.options.redirectDownloads) {
      const location = `${this.storageOrigin}/objects/${entry.id}?X-Amz-Signature=${randomBytes(8).toString('hex')}`;
      reply.res.writeHead(302, { location, 'content-length': '0' });
      reply.res.end();
      return;
    }
    this.#serveObject(entry.id, req, reply);
  }

  #delete(body: Record<string, unknown>, reply: Reply): void {
    const ids = ((body.entryIds as unknown[]) ?? []).map(Number);
    const forever = body.deleteForever === true || body.deleteForever === 'true' || body.deleteForever === 1;
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (!entry) continue;
      if (forever) this.#purge(id);
      else entry.deleted_at = new Date().toISOString();
    }
    send(reply, 200, { status: 'success' });
  }

  #entry(id: number, reply: Reply): void {
    const entry = this.#entries.get(id);
    if (!entry || entry.deleted_at) return send(reply, 404, { message: `No query results for model [App\\FileEntry] ${id}` });
    send(reply, 200, { fileEntry: entry });
  }

  // ---- storage server (presigned URLs) --------------------------------------------

  async #routeStorage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://storage');
    const endpoint: Endpoint | undefined =
      req.method === 'PUT' && url.pathname.startsWith('/parts/') ? 'putPart' : req.method === 'GET' && url.pathname.startsWith('/objects/') ? 'storageGet' : undefined;
    if (!endpoint) return xml(res, 404, 'NoSuchKey');
    this.counts[endpoint]++;
    const fault = this.#takeFault(endpoint);
    if (fault && this.#applyEarlyFault(fault, req, res)) return;
    // S3: a presigned URL carries its own signature; a second auth mechanism is refused.
    if (req.headers.authorization) {
      this.storageAuthorizations++;
      req.resume();
      return xml(res, 400, 'InvalidArgument: Only one auth mechanism allowed');
    }
    if (!url.searchParams.get('X-Amz-Signature')) return xml(res, 403, 'AccessDenied');
    const reply: Reply = { res, drop: fault?.kind === 'drop-response' };
    if (endpoint === 'storageGet') return this.#serveObject(Number(url.pathname.split('/')[2]), req, reply);
    const [, , uploadId, partNumber] = url.pathname.split('/');
    const upload = this.#multipart.get(decodeURIComponent(uploadId!));
    if (!upload) {
      req.resume();
      return xml(res, 404, 'NoSuchUpload');
    }
    let data: Buffer;
    try {
      data = await readBody(req);
    } catch {
      return;
    }
    const etag = `"${createHash('md5').update(data).digest('hex')}"`;
    upload.parts.set(Number(partNumber), { etag, data });
    if (reply.drop) return void res.socket?.destroy();
    res.writeHead(200, { etag, 'content-length': '0' });
    res.end();
  }

  #serveObject(id: number, req: IncomingMessage, reply: Reply): void {
    const entry = this.#entries.get(id);
    const data = entry && !entry.deleted_at ? this.#contents.get(id) : undefined;
    if (!data) return xml(reply.res, 404, 'NoSuchKey');
    const range = this.options.honourRange ? parseRange(req.headers.range, data.length) : undefined;
    const body = range ? data.subarray(range.start, range.end + 1) : data;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'accept-ranges': 'bytes' };
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${data.length}`;
    reply.res.writeHead(range ? 206 : 200, headers);
    if (reply.drop) {
      reply.res.write(body.subarray(0, Math.floor(body.length / 2)), () => reply.res.socket?.destroy());
      return;
    }
    reply.res.end(body);
  }

  // ---- state --------------------------------------------------------------------

  #create(spec: { name: string; parentId: number | null; type: string; size: number | null; users: boolean }): StoredEntry {
    const id = this.#nextId++;
    const now = new Date().toISOString();
    const dot = spec.name.lastIndexOf('.');
    const entry: StoredEntry = {
      id,
      name: spec.name,
      type: spec.type,
      hash: Buffer.from(`${id}|`).toString('base64'),
      file_size: spec.size,
      parent_id: spec.parentId,
      workspace_id: this.options.workspaceId,
      mime: spec.type === 'folder' ? null : 'application/octet-stream',
      extension: spec.type === 'folder' || dot < 1 ? null : spec.name.slice(dot + 1),
      users: spec.users ? [{ id: USER.id, email: USER.email }] : [],
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    this.#entries.set(id, entry);
    return entry;
  }

  #storeFile(name: string, parentId: number | null, data: Buffer, incomplete: Extract<Fault, { kind: 'incomplete' }> | undefined): StoredEntry {
    const entry = this.#create({
      name,
      parentId,
      type: 'file',
      size: incomplete?.wrongSize ? Math.max(0, data.length - 1) : data.length,
      users: !incomplete || incomplete.wrongSize === true,
    });
    this.#contents.set(entry.id, incomplete?.wrongSize ? data.subarray(0, data.length - 1) : data);
    return entry;
  }

  #parentIdOf(value: unknown): number | null {
    if (value === undefined || value === null || value === '' || value === 'null') return null;
    const id = Number(value);
    const parent = this.#entries.get(id);
    if (!parent || parent.type !== 'folder' || parent.deleted_at) throw new Error(`The selected parent id is invalid.`);
    return id;
  }

  #upload_(body: Record<string, unknown>): MultipartUpload | undefined {
    const upload = this.#multipart.get(String(body.uploadId));
    return upload && upload.key === body.key ? upload : undefined;
  }

  #purge(id: number): void {
    for (const child of [...this.#entries.values()].filter((e) => e.parent_id === id)) this.#purge(child.id);
    this.#entries.delete(id);
    this.#contents.delete(id);
  }

  #used(): number {
    return [...this.#contents.values()].reduce((n, b) => n + b.length, 0);
  }
}

interface Reply {
  res: ServerResponse;
  /** Drop the connection halfway through the reply. */
  drop: boolean;
  incomplete?: Extract<Fault, { kind: 'incomplete' }>;
}

function apiRoute(method: string, path: string): { endpoint: Endpoint; param?: string } | undefined {
  const key = `${method} ${path}`;
  const fixed: Record<string, Endpoint> = {
    'GET /drive/file-entries': 'list',
    'POST /folders': 'createFolder',
    'POST /uploads': 'upload',
    'POST /s3/multipart/create': 'multipartCreate',
    'POST /s3/multipart/batch-sign-part-urls': 'signParts',
    'POST /s3/multipart/complete': 'multipartComplete',
    'POST /s3/multipart/abort': 'multipartAbort',
    'POST /s3/entries': 's3Entry',
    'POST /file-entries/delete': 'delete',
    'GET /cli/loggedUser': 'loggedUser',
    'GET /user/space-usage': 'spaceUsage',
  };
  if (fixed[key]) return { endpoint: fixed[key] };
  let m = /^GET \/file-entries\/download\/([^/]+)$/.exec(key);
  if (m) return { endpoint: 'download', param: m[1] };
  m = /^GET \/file-entries\/(\d+)$/.exec(key);
  if (m) return { endpoint: 'entry', param: m[1] };
  return undefined;
}

function send(reply: Reply, status: number, body: unknown): void {
  if (!reply.drop) return json(reply.res, status, body);
  const text = Buffer.from(JSON.stringify(body));
  reply.res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(text.length) });
  reply.res.write(text.subarray(0, Math.floor(text.length / 2)), () => reply.res.socket?.destroy());
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function html(res: ServerResponse, status: number, page: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=UTF-8', 'content-length': String(Buffer.byteLength(page)) });
  res.end(page);
}

function xml(res: ServerResponse, status: number, code: string): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBody(req)).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start <= end ? { start, end } : undefined;
}

const unquote = (etag: string) => etag.replace(/^"|"$/g, '');

/** A small seeded PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function zeroCounts(): Record<Endpoint, number> {
  return Object.fromEntries(ENDPOINTS.map((e) => [e, 0])) as Record<Endpoint, number>;
}

const port = (server: Server) => (server.address() as AddressInfo).port;

function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
  sockets: Set<Socket>,
  onConnection?: () => void,
): Promise<Server> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection?.();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
