import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isAmberError } from '../core/amber-error.js';
import type { EvidenceSettings } from '../core/capture.js';
import { HashStream } from '../core/hash-stream.js';
import type { ObjectStore, PutMeta, Retention, StoredObject } from '../storage/object-store.js';

export interface StoreOnceMeta extends PutMeta {
  /** The body is this local file: the store may upload it directly (and, with `take`, keep it). */
  readonly file?: { readonly path: string; readonly take: boolean };
}

/**
 * Stores `body` under `key` unless an object is already there, in which case the stored object
 * is the original: its size and hash are returned and `body` is discarded. This is what lets a
 * retried capture continue without ever producing a second, different "original". Either way the
 * object ends under the retention asked for (a crash may have come between upload and lock).
 */
export async function storeOnce(store: ObjectStore, key: string, body: () => Readable, meta: StoreOnceMeta): Promise<StoredObject & { existed: boolean }> {
  const { file, ...put } = meta;
  if ((await store.head(key)) === undefined) {
    try {
      const adopted = file !== undefined && store.putFile ? await store.putFile(key, file.path, { ...put, take: file.take }) : undefined;
      return { ...(adopted ?? (await store.put(key, body(), put))), existed: false };
    } catch (e) {
      if (!isAmberError(e, 'STORE_EXISTS')) throw e;
      // lost a race with ourselves after a restart: fall through and read what is there
    }
  }
  const hash = new HashStream();
  // pipeline, not pipe: a read error must reject here, not crash the process
  await pipeline(await store.get(key), hash, new Writable({ write: (_c, _e, done) => done() }));
  if (put.retention !== undefined || put.legalHold === true) await store.protect?.(key, put.retention, put.legalHold);
  return { key, size: hash.bytes, sha256: hash.sha256, existed: true };
}

/** storeOnce for a small in-memory artifact, with its SHA-256 known before the upload. */
export async function storeText(store: ObjectStore, key: string, text: string, meta: StoreOnceMeta): Promise<StoredObject & { existed: boolean }> {
  const bytes = Buffer.from(text);
  return await storeOnce(store, key, () => Readable.from([bytes]), { ...meta, sha256: createHash('sha256').update(bytes).digest('hex') });
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The Object Lock retention a capture's evidence gets: the policy's mode, until `retentionDays`
 * after the capture was queued — fixed by the capture, so every retry asks for the same date.
 */
export function retentionOf(evidence: EvidenceSettings, createdAt: string): Retention | undefined {
  if (evidence.lock === 'none' || evidence.retentionDays === 0) return undefined;
  return {
    mode: evidence.lock === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    retainUntil: new Date(Date.parse(createdAt) + evidence.retentionDays * DAY_MS),
  };
}
