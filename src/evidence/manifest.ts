import Type, { type Static } from 'typebox';
import { CaptureTrigger, EvidenceSettings } from '../core/capture.js';

export const MANIFEST_SCHEMA = 'forensics.amber.dev/manifest/v1';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const ManifestArtifact = Type.Object({
  /** File name inside the bundle directory, e.g. `checkpoint-app.tar` (or `checkpoint-app.tar.age`). */
  name: Type.String({ minLength: 1 }),
  /** Size and SHA-256 of the stored object: what anyone can check without a key. */
  size: Type.Integer({ minimum: 0 }),
  sha256: Sha256,
  mediaType: Type.String(),
  /**
   * For an artifact stored encrypted (age, `<name>.age`): the evidence itself — its name, size and
   * SHA-256 before encryption. `verify --identity` decrypts and checks these.
   */
  plaintext: Type.Optional(Type.Object({ name: Type.String({ minLength: 1 }), size: Type.Integer({ minimum: 0 }), sha256: Sha256, mediaType: Type.String() })),
});
export type ManifestArtifact = Static<typeof ManifestArtifact>;

/**
 * manifest.json: everything in the bundle and the facts of the capture. manifest.jws signs its
 * exact bytes, and it carries the custody chain's head hash, so the signature covers the chain.
 */
export const Manifest = Type.Object({
  schema: Type.Literal(MANIFEST_SCHEMA),
  captureId: Type.String(),
  cluster: Type.String(),
  tool: Type.Object({ name: Type.Literal('amber'), version: Type.String() }),
  target: Type.Object({
    namespace: Type.String(),
    pod: Type.String(),
    podUID: Type.String(),
    node: Type.String(),
    containers: Type.Array(
      Type.Object({
        name: Type.String(),
        containerID: Type.String(),
        image: Type.String(),
        imageID: Type.String(),
      }),
    ),
  }),
  trigger: CaptureTrigger,
  evidence: EvidenceSettings,
  /** RFC 3339 times of the capture's steps. */
  times: Type.Object({
    signal: Type.String(),
    queued: Type.String(),
    checkpointRequested: Type.String(),
    checkpointWritten: Type.String(),
    sealed: Type.String(),
  }),
  artifacts: Type.Array(ManifestArtifact),
  custody: Type.Object({ entries: Type.Integer({ minimum: 1 }), head: Sha256 }),
  signing: Type.Object({ alg: Type.String(), kid: Type.String() }),
});
export type Manifest = Static<typeof Manifest>;
