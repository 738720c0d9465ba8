import Type, { type Static } from 'typebox';
import { CustodyEntry } from '../core/custody-entry.js';
import { ManifestArtifact } from './manifest.js';

export const ADDENDUM_SCHEMA = 'forensics.amber.dev/addendum/v1';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

/**
 * addendum.json: evidence added to a bundle after it was sealed — the triage report, which is
 * made after sealing so that it never delays it. The sealed objects are write-once, so the
 * addendum cannot extend manifest.json or custody.jsonl; instead it names the exact manifest it
 * extends (SHA-256 of its bytes), lists its own artifacts, and carries the custody entries that
 * continue the sealed chain (the first one's `prev` is the manifest's custody head). addendum.jws
 * signs its exact bytes with the bundle's key.
 */
export const Addendum = Type.Object({
  schema: Type.Literal(ADDENDUM_SCHEMA),
  captureId: Type.String(),
  /** SHA-256 of manifest.json's exact bytes. */
  manifestSha256: Sha256,
  artifacts: Type.Array(ManifestArtifact, { minItems: 1 }),
  custody: Type.Object({ entries: Type.Array(CustodyEntry, { minItems: 1 }), head: Sha256 }),
  signing: Type.Object({ alg: Type.String(), kid: Type.String() }),
});
export type Addendum = Static<typeof Addendum>;
