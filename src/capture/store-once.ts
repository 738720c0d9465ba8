import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isAmberError } from '../core/amber-error.js';
import { HashStream } from '../core/hash-stream.js';
import type { ObjectStore, StoredObject } from '../storage/object-store.js';

/**
 * Stores `body` under `key` unless an object is already there, in which case the stored object
 * is the original: its size and hash are returned and `body` is discarded. This is what lets a
 * retried capture continue without ever producing a second, different "original".
 */
export async function storeOnce(
  store: ObjectStore,
  key: string,
  body: () => Readable,
  metadata: Record<string, string>,
  localFile?: string,
): Promise<StoredObject & { existed: boolean }> {
  if ((await store.head(key)) === undefined) {
    try {
      const adopted = localFile !== undefined && store.putFile ? await store.putFile(key, localFile, { metadata }) : undefined;
      return { ...(adopted ?? (await store.put(key, body(), { metadata }))), existed: false };
    } catch (e) {
      if (!isAmberError(e, 'STORE_EXISTS')) throw e;
      // lost a race with ourselves after a restart: fall through and read what is there
    }
  }
  const hash = new HashStream();
  // pipeline, not pipe: a read error must reject here, not crash the process
  await pipeline(await store.get(key), hash, new Writable({ write: (_c, _e, done) => done() }));
  return { key, size: hash.size, sha256: hash.sha256, existed: true };
}
