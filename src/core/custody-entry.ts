import Type, { type Static } from 'typebox';

/** Every action amber records in a custody chain, in the order a capture meets them. */
export const CUSTODY_ACTIONS = [
  'signal.received',
  'policy.matched',
  'capture.queued',
  // a signal of another policy joined the capture before its container was checkpointed
  'capture.joined',
  'checkpoint.requested',
  'checkpoint.written',
  'artifact.hashed',
  'artifact.encrypted',
  'artifact.stored',
  'bundle.sealed',
  // after sealing, in a signed addendum
  'report.produced',
  // an analyst's restore, in a signed restore record (restore-<n>.json): the bundle verified, the
  // checkpoint image written, and where it was restored
  'restore.verified',
  'restore.image-written',
  'restore.sandbox-created',
  'restore.podman-restored',
] as const;
export type CustodyAction = (typeof CUSTODY_ACTIONS)[number];

/** Who did something to the evidence. */
export const CustodyActor = Type.Object({
  component: Type.String(),
  pod: Type.Optional(Type.String()),
  node: Type.Optional(Type.String()),
  serviceAccount: Type.Optional(Type.String()),
});
export type CustodyActor = Static<typeof CustodyActor>;

/**
 * One line of custody.jsonl (and of a capture's status.custody, and of an addendum). `hash` =
 * sha256 of the canonical JSON of the entry without `hash`; `prev` = the previous entry's hash (64
 * zeros for the first), so dropping, reordering or editing a line breaks every hash after it, and
 * the manifest's copy of the head hash pins the whole chain.
 *
 * `action` is read as any string: amber writes only CUSTODY_ACTIONS (CustodyChain.append takes a
 * CustodyAction), but a reader of a bundle or of a Capture resource written by a newer amber must
 * not refuse an action it does not know; the hashes, not the names, prove the chain.
 */
export const CustodyEntry = Type.Object({
  seq: Type.Integer({ minimum: 0 }),
  at: Type.String(),
  actor: CustodyActor,
  action: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  prev: Type.String(),
  hash: Type.String(),
});
export type CustodyEntry = Static<typeof CustodyEntry>;
