import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import { hashFile } from '../core/hash-stream.js';
import { createAgeDecryptStream } from '../evidence/age/age-decrypt.js';
import type { AgeIdentity } from '../evidence/age/age-keys.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import type { BundleSource } from '../evidence/bundle-source.js';
import type { Manifest } from '../evidence/manifest.js';

/** The checkpoint archive a restore turns into an image: its own bytes (decrypted when stored encrypted) and their hash. */
export interface RestoreArchive {
  /** The artifact's name in the manifest (`checkpoint-app.tar`, `checkpoint-app.tar.age`), or the file's name when unsealed. */
  readonly name: string;
  readonly container: string;
  /** SHA-256 and size of the checkpoint itself: for a sealed one, what the manifest seals (the plaintext's when encrypted). */
  readonly sha256: string;
  readonly size: number;
  /** The checkpoint's bytes, streamed; opened once per use. */
  open(): Promise<Readable>;
}

/**
 * The archive of `container` in a sealed (and verified) bundle. The container may be left out
 * when the capture holds one; an encrypted archive needs an identity that opens it.
 */
export function sealedArchive(source: BundleSource, manifest: Manifest, container: string | undefined, identities: readonly AgeIdentity[]): RestoreArchive {
  const names = manifest.target.containers.map((c) => c.name);
  const chosen = container ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) throw new AmberError('CONTAINER_AMBIGUOUS', { containers: names, problem: 'pass --container NAME' });
  const plain = ARTIFACT_NAMES.archive(chosen);
  const artifact = manifest.artifacts.find((a) => a.name === plain || a.plaintext?.name === plain);
  if (!names.includes(chosen) || artifact === undefined) throw new AmberError('CONTAINER_NOT_FOUND', { container: chosen, containers: names });
  const inside = artifact.plaintext;
  if (inside !== undefined && identities.length === 0) {
    throw new AmberError('RESTORE_REFUSED', {
      archive: artifact.name,
      problem: 'the archive is stored encrypted (age): pass --identity with a key it was encrypted to',
    });
  }
  return {
    name: artifact.name,
    container: chosen,
    sha256: inside?.sha256 ?? artifact.sha256,
    size: inside?.size ?? artifact.size,
    open: async () => {
      const stored = await source.open(artifact.name);
      if (inside === undefined) return stored;
      const decrypted = createAgeDecryptStream(identities);
      // a failure of either side reaches the reader of the decrypted stream
      pipeline(stored, decrypted, (err) => {
        if (err) decrypted.destroy(err);
      });
      return decrypted;
    },
  };
}

/** A bare archive file (`--unsealed`): hashed here, since no manifest vouches for it. */
export async function unsealedArchive(file: string, container: string): Promise<RestoreArchive> {
  const s = await stat(file).catch(() => undefined);
  if (!s?.isFile()) throw new AmberError('RESTORE_REFUSED', { archive: file, problem: s ? 'not a file' : 'does not exist' });
  const { sha256, size } = await hashFile(file);
  return { name: basename(file), container, sha256, size, open: async () => createReadStream(file, { highWaterMark: 1024 * 1024 }) };
}
