import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import { hashFile, HashStream } from '../core/hash-stream.js';
import { createAgeEncryptStream } from '../evidence/age/age-encrypt.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import type { CustodyChain } from '../evidence/custody-chain.js';
import type { ManifestArtifact } from '../evidence/manifest.js';
import type { ObjectStore } from '../storage/object-store.js';
import { storeOnce, storeText, type StoreOnceMeta } from './store-once.js';

/** 1 MiB reads: 64 KiB chunks cost more in per-chunk overhead than the hashing; 4 MiB ones in allocation. */
const STREAM_CHUNK = 1024 * 1024;
const AGE_MEDIA_TYPE = 'application/octet-stream';

export type ArtifactBody =
  { readonly text: string } | { readonly file: string; /** the store may take (move) the file: only when it is ours to delete */ readonly take: boolean };

export interface StoredArtifact {
  /** As the manifest lists it: the stored object, and for an encrypted one its plaintext. */
  readonly artifact: ManifestArtifact;
  readonly key: string;
  readonly existed: boolean;
}

/**
 * Stores one artifact of a bundle under `key` (its plaintext name's key): in clear, or, with age
 * `recipients`, encrypted as `<key>.age`, streamed, with the plaintext hashed on the way in.
 * Write-once like storeOnce: an object already there is the original. For an encrypted one the
 * ciphertext cannot tell what it holds, so its plaintext is re-hashed from the local file, or —
 * for text — must be given as `plaintext`, recorded before the first upload.
 */
export async function storeArtifact(
  store: ObjectStore,
  key: string,
  name: string,
  mediaType: string,
  body: ArtifactBody,
  meta: StoreOnceMeta,
  recipients: readonly string[] | undefined,
  plaintext?: { size: number; sha256: string },
): Promise<StoredArtifact> {
  if (recipients === undefined || recipients.length === 0) {
    const stored =
      'text' in body
        ? await storeText(store, key, body.text, { ...meta, contentType: contentTypeOf(mediaType) })
        : await storeOnce(store, key, () => createReadStream(body.file, { highWaterMark: STREAM_CHUNK }), {
            ...meta,
            contentType: contentTypeOf(mediaType),
            file: { path: body.file, take: body.take },
          });
    return { artifact: { name, size: stored.size, sha256: stored.sha256, mediaType }, key, existed: stored.existed };
  }
  const sealedName = ARTIFACT_NAMES.encrypted(name);
  const sealedKey = ARTIFACT_NAMES.encrypted(key);
  const put = { ...meta, contentType: AGE_MEDIA_TYPE };
  if ('text' in body) {
    const bytes = Buffer.from(body.text);
    const own = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    const stored = await storeOnce(store, sealedKey, () => Readable.from([bytes]).pipe(createAgeEncryptStream(recipients)), put);
    const inside = stored.existed ? plaintext : own;
    if (inside === undefined)
      throw new AmberError('EVIDENCE_CONFLICT', { name: sealedName, problem: 'stored encrypted by an earlier attempt whose plaintext hash was not recorded' });
    return {
      artifact: { name: sealedName, size: stored.size, sha256: stored.sha256, mediaType: AGE_MEDIA_TYPE, plaintext: { name, ...inside, mediaType } },
      key: sealedKey,
      existed: stored.existed,
    };
  }
  let hashed: HashStream | undefined;
  const stored = await storeOnce(
    store,
    sealedKey,
    () => {
      const source = createReadStream(body.file, { highWaterMark: STREAM_CHUNK });
      hashed = new HashStream();
      const encrypt = createAgeEncryptStream(recipients);
      // errors travel downstream, so the upload fails instead of completing a short object
      source.on('error', (e) => encrypt.destroy(e));
      hashed.on('error', (e) => encrypt.destroy(e));
      return source.pipe(hashed).pipe(encrypt);
    },
    put,
  );
  const inside = !stored.existed && hashed !== undefined ? { size: hashed.bytes, sha256: hashed.sha256 } : await hashFile(body.file);
  return {
    artifact: { name: sealedName, size: stored.size, sha256: stored.sha256, mediaType: AGE_MEDIA_TYPE, plaintext: { name, ...inside, mediaType } },
    key: sealedKey,
    existed: stored.existed,
  };
}

/** The custody entries of one stored artifact: hashed (the evidence's identity), encrypted when it is, stored. */
export function recordStored(chain: CustodyChain, store: ObjectStore, stored: StoredArtifact, recipients: readonly string[] | undefined): void {
  const a = stored.artifact;
  const identity = a.plaintext ?? a;
  chain.append('artifact.hashed', { name: identity.name, size: identity.size, sha256: identity.sha256 });
  if (a.plaintext) chain.append('artifact.encrypted', { name: a.name, format: 'age', recipients: [...(recipients ?? [])], size: a.size, sha256: a.sha256 });
  chain.append('artifact.stored', { name: a.name, uri: store.uri(stored.key), ...(stored.existed ? { existing: true } : {}) });
}

function contentTypeOf(mediaType: string): string {
  return mediaType === 'text/plain' ? 'text/plain; charset=utf-8' : mediaType;
}
