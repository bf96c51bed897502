import { Worker } from 'node:worker_threads';

/**
 * One worker thread for the hash kinds computed in JavaScript (APR1, SHA-crypt), started
 * on first use. It is unref'd while idle, so it never keeps the process alive; when it dies (it
 * should not) the checks it held resolve false and the next check starts a new one.
 * How many checks run at once is bounded by the caller (login-guard.ts).
 */
let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, (ok: boolean) => void>();

/**
 * The worker's file beside this one. Run from source (the tests, through tsx), it is
 * `.ts`, and a worker does not inherit tsx's loader: a two-line bootstrap registers it first.
 */
function spawn(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./crypt-worker.js', import.meta.url));
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const file = JSON.stringify(new URL('./crypt-worker.ts', import.meta.url).href);
  return new Worker(`import(${tsx}).then((api) => { api.register(); return import(${file}); });`, { eval: true });
}

function start(): Worker {
  const w = spawn();
  w.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
    pending.get(id)?.(ok === true);
    pending.delete(id);
    if (pending.size === 0) w.unref();
  });
  const fail = () => {
    if (worker === w) worker = undefined;
    for (const resolve of pending.values()) resolve(false);
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', fail);
  // After the listeners: adding a 'message' listener refs the worker again.
  w.unref();
  return w;
}

/** True when `password` matches `hash` (`$apr1$`, `$5$`, `$6$`), computed in the worker. */
export function verifyInWorker(hash: string, password: string): Promise<boolean> {
  worker ??= start();
  const id = nextId++;
  return new Promise((resolve) => {
    if (pending.size === 0) worker!.ref();
    pending.set(id, resolve);
    worker!.postMessage({ id, hash, password });
  });
}
