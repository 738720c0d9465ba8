/**
 * The chunks of one read of a checkpoint archive, stopped by an AbortSignal: at once, not at the
 * source's next chunk, since the source may be a network read that has stalled.
 */
import type { Readable } from 'node:stream';

/**
 * Opens the archive from its start; called once, or twice when the pages came before the images
 * that map them. A `Readable` (e.g. `createReadStream(path, { highWaterMark: 1 << 20 })`) or
 * any async iterable of chunks; `readFileChunks(path)` is the fast one for a file.
 */
export type OpenArchive = () => ArchiveSource | Promise<ArchiveSource>;
export type ArchiveSource = Readable | AsyncIterable<Buffer | Uint8Array>;

const isReadable = (s: ArchiveSource): s is Readable => typeof (s as Readable).destroy === 'function';

/**
 * Yields the chunks of `open()`'s source. When `signal` is aborted (before the open, while a chunk
 * is awaited, or while one is being used), it throws `signal.reason` and the source is closed: a
 * Readable is destroyed, another iterable's `return()` is called without waiting for it (an async
 * generator would only run it once its pending chunk came). Left early otherwise, it closes the
 * source as `for await` does.
 */
export async function* archiveChunks(open: OpenArchive, signal: AbortSignal): AsyncGenerator<Buffer | Uint8Array> {
  signal.throwIfAborted();
  const source = await open();
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | Uint8Array>;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    // best-effort: a source that fails while closing has nothing more to say to this read
    if (isReadable(source)) source.destroy();
    else void Promise.resolve(it.return?.()).catch(() => undefined);
  };
  signal.addEventListener('abort', close, { once: true });
  let done = false;
  try {
    for (;;) {
      const r = await nextOrAbort(it, signal);
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
      signal.throwIfAborted();
    }
  } finally {
    signal.removeEventListener('abort', close);
    if (!done && !closed) {
      closed = true;
      if (isReadable(source)) source.destroy();
      else await it.return?.(); // nothing is pending: it returns at once
    }
  }
}

/**
 * The iterator's next chunk, or `signal.reason` as soon as it is aborted. A listener per chunk,
 * removed when the chunk comes: a race with one long-pending promise would keep every chunk alive.
 */
function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    it.next().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err); // after an abort, the promise is settled already: the abort is what is reported
      },
    );
  });
}
