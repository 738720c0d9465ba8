import Type, { type Static } from 'typebox';
import { CustodyEntry } from '../core/custody-entry.js';

export const RESTORE_SCHEMA = 'forensics.amber.dev/restore/v1';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Digest = Type.String({ pattern: '^sha256:[0-9a-f]{64}$' });

/** restore-<n>.json / restore-<n>.jws: the n-th restore of a bundle (n from 1). */
export const RESTORE_FILE = /^restore-([1-9][0-9]{0,5})\.(json|jws)$/;
export const restoreFileNames = (n: number) => ({ json: `restore-${n}.json`, jws: `restore-${n}.jws` });

/**
 * A restore record: one restore of a sealed capture, written beside the bundle after it happened.
 * Write-once like the addendum: it names the exact manifest (SHA-256 of its bytes) and archive it
 * restored, the checkpoint image (whose layer digest is the archive's own hash), where it went
 * (an OCI layout, a registry, a sandbox pod, a local Podman), who ran it and when; its custody
 * entries continue the chain of the record named in `custody.continues` (the manifest, the
 * addendum or an earlier restore), so every restore is in the one custody record.
 *
 * restore-<n>.jws signs its exact bytes. The key is whoever restored it: an analyst's own key
 * (its kid must be in the JWKS a verifier uses), or the bundle's when amber's own key restores.
 */
export const RestoreRecord = Type.Object({
  schema: Type.Literal(RESTORE_SCHEMA),
  captureId: Type.String(),
  /** 1 for the first restore of this bundle, then 2, 3…: the file is restore-<number>.json. */
  number: Type.Integer({ minimum: 1 }),
  /** SHA-256 of manifest.json's exact bytes. */
  manifestSha256: Sha256,
  /** The archive restored: its name in the manifest and the SHA-256 of the checkpoint it holds (the plaintext's, when stored encrypted). */
  archive: Type.Object({ name: Type.String({ minLength: 1 }), container: Type.String({ minLength: 1 }), sha256: Sha256 }),
  image: Type.Object({
    /** Digest of the image manifest: what a pod or `skopeo` names. */
    digest: Digest,
    /** The one layer: the archive byte for byte, so `sha256:<archive.sha256>`. */
    layerDigest: Digest,
    /** Where it was written: a registry reference (`host/repo:tag@digest`) and/or an OCI layout directory. */
    reference: Type.Optional(Type.String()),
    ociLayout: Type.Optional(Type.String()),
  }),
  sandbox: Type.Optional(
    Type.Object({
      cluster: Type.Optional(Type.String()),
      namespace: Type.String(),
      pod: Type.String(),
      node: Type.Optional(Type.String()),
      runtimeClass: Type.Optional(Type.String()),
      networkPolicy: Type.String(),
    }),
  ),
  podman: Type.Optional(Type.Object({ container: Type.String(), network: Type.String() })),
  /** Who ran the restore (the operating-system user and host of `amber restore`, or the identity given). */
  restoredBy: Type.Object({ user: Type.String(), host: Type.String() }),
  at: Type.String(),
  custody: Type.Object({
    /** The record whose custody this continues: `manifest`, `addendum` or `restore-<k>` (k < number). */
    continues: Type.String({ pattern: '^(manifest|addendum|restore-[1-9][0-9]{0,5})$' }),
    entries: Type.Array(CustodyEntry, { minItems: 1 }),
    head: Sha256,
  }),
  signing: Type.Object({ alg: Type.String(), kid: Type.String() }),
});
export type RestoreRecord = Static<typeof RestoreRecord>;
