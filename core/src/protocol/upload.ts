import { finished, type Readable } from 'node:stream';
import { StorageError, StorageErrorCode } from '../errors.js';
import { UploadCheck } from '../policies/verify-upload.js';

/** Parse a Content-Length header; undefined when missing or not a plain byte count (-> 411). */
export function parseContentLength(header: string | undefined): number | undefined {
  if (header === undefined || header === '' || !/^\d{1,15}$/.test(header)) return undefined;
  return Number(header);
}

/**
 * Stream an upload body through an UploadCheck (byte count and, with `expectedSha256`,
 * the digest) into `write`, which hands the checked stream to the provider.
 *
 * A client that hangs up mid-body makes the checked stream error with INCOMPLETE_BODY,
 * so the provider stores nothing. Whatever way `write` settles, the rest of the body the
 * provider did not read is drained (not buffered), so a refused upload still gets its
 * reply and the connection stays usable.
 */
export async function receiveUpload(
  source: Readable,
  size: number,
  expectedSha256: string | undefined,
  write: (body: Readable) => Promise<void>,
): Promise<void> {
  const check = new UploadCheck(size, expectedSha256);
  const stopWatching = finished(source, { writable: false }, (err) => {
    if (err) {
      check.destroy(new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'the client closed the connection during the upload', { cause: err }));
    }
  });
  // The provider learns of a failed check from the stream itself (it may attach its
  // listeners only after a small body has already failed); this keeps the error from
  // being unhandled meanwhile.
  check.on('error', ignore);
  source.pipe(check);
  try {
    await write(check);
    // A provider must reject when its body errors; never report such a write as stored.
    if (check.errored) throw check.errored;
  } finally {
    stopWatching();
    source.unpipe(check);
    if (!source.readableEnded && !source.destroyed) {
      source.on('error', ignore); // a reset while draining is no longer anyone's concern
      source.resume();
    }
    if (!check.destroyed) check.destroy();
  }
}

const ignore = (): void => {};
