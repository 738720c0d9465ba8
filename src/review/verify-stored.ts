import type { PublicKeySet } from '../evidence/signing-key.js';
import type { AgeIdentity } from '../evidence/age/age-keys.js';
import type { BundleSource } from '../evidence/bundle-source.js';
import type { Manifest } from '../evidence/manifest.js';
import { verifyBundle, type Check, type VerifyProgress } from '../evidence/verify-bundle.js';
import type { ObjectLock } from './object-locks.js';

/** Where the retention of a stored bundle's objects can be read (S3), or nothing (a directory). */
export type LockReader = (names: readonly string[], manifest: Manifest | undefined) => Promise<{ objects: ObjectLock[]; checks: Check[] }>;

export interface StoredVerification {
  readonly valid: boolean;
  readonly target: string;
  /** Every check, the store's retention checks last. */
  readonly checks: Check[];
  readonly manifest?: Manifest | undefined;
  /** S3: each object's lock, whether or not the manifest promised one. */
  readonly objects?: ObjectLock[] | undefined;
  /** Artifacts stored encrypted whose plaintext was not checked (no identity given). */
  readonly encryptedUnchecked: number;
}

/**
 * A stored bundle checked as `amber verify` checks it: verifyBundle, then, where the store tells
 * retention, each object's lock against the manifest's promise. The CLI and the evidence browser
 * both call this, so they cannot disagree.
 */
export async function verifyStored(
  source: BundleSource,
  opts: { jwks: PublicKeySet; identities?: readonly AgeIdentity[]; locks?: LockReader | undefined; onProgress?: (p: VerifyProgress) => void },
): Promise<StoredVerification> {
  const identities = opts.identities ?? [];
  const report = await verifyBundle(source, { jwks: opts.jwks, identities, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  const locks = opts.locks
    ? await opts.locks(
        (await source.list()).filter((n) => !n.endsWith('/')),
        report.manifest,
      )
    : undefined;
  const checks = [...report.checks, ...(locks?.checks ?? [])];
  const encrypted = report.manifest?.artifacts.filter((a) => a.plaintext !== undefined).length ?? 0;
  return {
    valid: report.valid && checks.every((c) => c.ok),
    target: source.location,
    checks,
    manifest: report.manifest,
    objects: locks?.objects,
    encryptedUnchecked: identities.length === 0 ? encrypted : 0,
  };
}
