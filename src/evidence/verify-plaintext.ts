import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isAmberError } from '../core/amber-error.js';
import { HashStream } from '../core/hash-stream.js';
import { createAgeDecryptStream } from './age/age-decrypt.js';
import type { AgeIdentity } from './age/age-keys.js';
import type { BundleSource } from './bundle-source.js';
import type { ManifestArtifact } from './manifest.js';
import type { Check } from './verify-bundle.js';

/**
 * For an artifact stored encrypted: decrypts it as a stream with the analyst's age identities and
 * checks the plaintext's size and SHA-256 against the manifest — the evidence itself, not only its
 * ciphertext. A wrong key or a damaged ciphertext is a finding naming the artifact, never a throw.
 */
export async function plaintextCheck(source: BundleSource, a: ManifestArtifact, identities: readonly AgeIdentity[], add: (c: Check) => void): Promise<void> {
  const p = a.plaintext;
  if (p === undefined) return;
  const fail = (detail: string) => add({ check: 'plaintext', ok: false, artifact: a.name, detail });
  const hash = new HashStream();
  try {
    await pipeline(await source.open(a.name), createAgeDecryptStream(identities), hash, new Writable({ write: (_c, _e, done) => done() }));
  } catch (e) {
    if (isAmberError(e, 'AGE_NO_IDENTITY_MATCHED')) return fail('none of the given identities opens it (it is encrypted to other recipients)');
    if (isAmberError(e)) return fail(`cannot be decrypted: ${e.code} ${e.message}`);
    return fail(`cannot be read: ${(e as Error).message}`);
  }
  if (hash.bytes !== p.size) return fail(`decrypts to ${hash.bytes} bytes, manifest says ${p.name} is ${p.size}`);
  if (hash.sha256 !== p.sha256) return fail(`decrypts to sha256 ${hash.sha256}, manifest says ${p.name} is ${p.sha256}`);
  add({ check: 'plaintext', ok: true, artifact: a.name, detail: `${p.name}: ${p.size} bytes, sha256 ${p.sha256.slice(0, 16)}…` });
}
