import Type, { type Static } from 'typebox';
import { CustodyEntry } from './custody-entry.js';
import { Caller, Source } from './signal.js';

export const Phase = Type.Union([
  Type.Literal('Pending'),
  Type.Literal('Checkpointing'),
  Type.Literal('Uploading'),
  Type.Literal('Sealed'),
  Type.Literal('Failed'),
]);
export type Phase = Static<typeof Phase>;

export const LockMode = Type.Union([Type.Literal('compliance'), Type.Literal('governance'), Type.Literal('none')]);
export type LockMode = Static<typeof LockMode>;

export const IncludeItem = Type.Union([Type.Literal('podSpec'), Type.Literal('logs')]);
export type IncludeItem = Static<typeof IncludeItem>;

export const CaptureTarget = Type.Object({
  namespace: Type.String(),
  pod: Type.String(),
  podUID: Type.Optional(Type.String()),
  /** Absent when the alert named no container and the policy captures the target only. */
  container: Type.Optional(Type.String()),
  containerID: Type.Optional(Type.String()),
  /** Filled in by target resolution (capture pipeline). */
  node: Type.Optional(Type.String()),
});
export type CaptureTarget = Static<typeof CaptureTarget>;

export const CaptureTrigger = Type.Object({
  source: Source,
  rule: Type.String(),
  priority: Type.Optional(Type.String()),
  time: Type.String(),
  policy: Type.String(),
  signalDigest: Type.String(),
  /** Admission signals: how the caller (the API server, or whoever called the webhook) was authenticated. */
  caller: Type.Optional(Caller),
  /**
   * Admission signals: who opened the session and what they ran, as the caller asserted them — the
   * API server's word when `by` is `apiserver-mtls`, anyone's when `unauthenticated` (also in the
   * custody log).
   */
  asserted: Type.Optional(
    Type.Object({
      by: Caller,
      user: Type.Optional(Type.String()),
      groups: Type.Optional(Type.Array(Type.String())),
      command: Type.Optional(Type.String()),
    }),
  ),
  /** Read only, never written: captures queued before issue 17 recorded these as facts (see `asserted`). */
  user: Type.Optional(Type.String()),
  groups: Type.Optional(Type.Array(Type.String())),
  command: Type.Optional(Type.String()),
});
export type CaptureTrigger = Static<typeof CaptureTrigger>;

export const EvidenceSettings = Type.Object({
  retentionDays: Type.Integer({ minimum: 0 }),
  lock: LockMode,
  legalHold: Type.Optional(Type.Boolean()),
  /** Store the secret-bearing artifacts encrypted to these age X25519 recipients (`age1…`). */
  encryption: Type.Optional(Type.Object({ recipients: Type.Array(Type.String({ pattern: '^age1[02-9ac-hj-np-z]{58}$' }), { minItems: 1, maxItems: 32 }) })),
});
export type EvidenceSettings = Static<typeof EvidenceSettings>;

export const CaptureSpec = Type.Object({
  target: CaptureTarget,
  trigger: CaptureTrigger,
  containers: Type.Union([Type.Literal('target'), Type.Literal('all')]),
  timeoutSeconds: Type.Integer({ minimum: 1 }),
  include: Type.Array(IncludeItem),
  evidence: EvidenceSettings,
});
export type CaptureSpec = Static<typeof CaptureSpec>;

export const CaptureStatus = Type.Object({
  phase: Phase,
  /** When each phase was entered (RFC 3339). */
  phaseTimes: Type.Record(Type.String(), Type.String()),
  attempts: Type.Integer({ minimum: 0 }),
  /** Stable code (an AmberError code, or DiskPressure) when Failed or retrying. */
  reason: Type.Optional(Type.String()),
  /** Human text; for a runtime failure, the runtime's own message. */
  message: Type.Optional(Type.String()),
  /** Not before this time (RFC 3339) is the next attempt made. */
  retryAt: Type.Optional(Type.String()),
  /** What target resolution found (pod uid, node, containers and image digests). */
  resolved: Type.Optional(
    Type.Object({
      podUID: Type.String(),
      node: Type.String(),
      containers: Type.Array(Type.Object({ name: Type.String(), containerID: Type.String(), image: Type.String(), imageID: Type.String() })),
    }),
  ),
  /** Archives the kubelet wrote; once here, a retry reuses them instead of checkpointing again. */
  checkpoints: Type.Optional(Type.Array(Type.Object({ container: Type.String(), path: Type.String(), requestedAt: Type.String(), writtenAt: Type.String() }))),
  /** Artifacts already stored (name, size, sha256): a retry skips them and keeps these originals. */
  artifacts: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        size: Type.Integer({ minimum: 0 }),
        sha256: Type.String(),
        mediaType: Type.String(),
        /** For an encrypted artifact (`<name>.age`): the evidence itself, hashed before encryption. */
        plaintext: Type.Optional(Type.Object({ name: Type.String(), size: Type.Integer({ minimum: 0 }), sha256: Type.String(), mediaType: Type.String() })),
      }),
    ),
  ),
  /**
   * Plaintext size and SHA-256 of encrypted text artifacts, recorded before their upload: a retry
   * that finds the ciphertext stored cannot hash what is inside it, and must not guess.
   */
  plaintexts: Type.Optional(Type.Record(Type.String(), Type.Object({ size: Type.Integer({ minimum: 0 }), sha256: Type.String() }))),
  /** Where the sealed bundle is. */
  bundle: Type.Optional(
    Type.Object({
      uri: Type.String(),
      archives: Type.Array(Type.Object({ container: Type.String(), size: Type.Integer(), sha256: Type.String() })),
      signingKeyId: Type.String(),
    }),
  ),
  /**
   * The analysts' restores of the sealed capture (amber restore), as their signed restore records
   * in the bundle say; written by `amber restore` when it reaches the cluster. The records are the
   * proof; this list is where an analyst sees them.
   */
  restores: Type.Optional(
    Type.Array(
      Type.Object({
        number: Type.Integer({ minimum: 1 }),
        at: Type.String(),
        by: Type.String(),
        /** The restore record (restore-<n>.json) beside the bundle. */
        record: Type.String(),
        image: Type.String(),
        sandbox: Type.Optional(Type.Object({ namespace: Type.String(), pod: Type.String(), node: Type.Optional(Type.String()) })),
      }),
    ),
  ),
  /**
   * Restores asked for in the evidence browser of a responder, which holds no signing key: the agent
   * of the capture's node runs each one (as `amber restore --image --namespace` would) and answers
   * here. `Running` is set before it starts; a request an agent finds `Running` at its start was
   * cut off, and is answered `Failed`.
   */
  restoreRequests: Type.Optional(
    Type.Array(
      Type.Object({
        id: Type.String(),
        at: Type.String(),
        /** The signed-in user who asked. */
        by: Type.String(),
        state: Type.Union([Type.Literal('Requested'), Type.Literal('Running'), Type.Literal('Done'), Type.Literal('Failed')]),
        /** Done: the restore record's number (its entry in `restores`). */
        number: Type.Optional(Type.Integer({ minimum: 1 })),
        /** Failed: the stable code, and the words. */
        reason: Type.Optional(Type.String()),
        message: Type.Optional(Type.String()),
        answeredAt: Type.Optional(Type.String()),
      }),
      { maxItems: 64 },
    ),
  ),
  /** The custody chain so far; it survives restarts with the capture. */
  custody: Type.Optional(Type.Array(CustodyEntry)),
  /**
   * The triage report, made after sealing (Pending from the moment the capture is Sealed): report.json
   * under a signed addendum, or why there is none. A restart finishes a Pending one.
   */
  report: Type.Optional(
    Type.Object({
      state: Type.Union([Type.Literal('Pending'), Type.Literal('Written'), Type.Literal('Failed')]),
      sha256: Type.Optional(Type.String()),
      /** Indicator ids found (`reverse-shell`, `executable-added`, …), most severe first. */
      indicators: Type.Optional(Type.Array(Type.String())),
      /** How many indicators of each severity were found (the evidence browser's list shows them). */
      severities: Type.Optional(Type.Object({ high: Type.Integer({ minimum: 0 }), medium: Type.Integer({ minimum: 0 }), info: Type.Integer({ minimum: 0 }) })),
      reason: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }),
  ),
});
export type CaptureStatus = Static<typeof CaptureStatus>;

/**
 * A signal that matched while this capture of its container was still Pending or Checkpointing,
 * and joined it instead of freezing the container again (core/join-capture.ts). Its signal is in
 * `signals`; its keys make later alerts of its policy duplicates of this capture.
 */
export const JoinedSignal = Type.Object({
  /** When it joined (RFC 3339): its policy's cooldown runs from here. */
  at: Type.String(),
  dedupeKey: Type.String(),
  deliveryKey: Type.Optional(Type.String()),
  cooldownMs: Type.Integer({ minimum: 0 }),
  trigger: CaptureTrigger,
  /** The phase the capture was in when the signal joined. */
  phase: Type.Union([Type.Literal('Pending'), Type.Literal('Checkpointing')]),
});
export type JoinedSignal = Static<typeof JoinedSignal>;

/**
 * A capture request and its progress. Shaped like the `captures.forensics.amber.dev` custom
 * resource (spec/status) so the file journal and the kube queue store the same thing.
 */
export const Capture = Type.Object({
  id: Type.String(),
  createdAt: Type.String(),
  /** policy/namespace/pod/container: at most one capture per key per cooldown window. */
  dedupeKey: Type.String(),
  /** Re-delivery identity of the signal (Alertmanager fingerprint+startsAt, Falcosidekick uuid). */
  deliveryKey: Type.Optional(Type.String()),
  cooldownMs: Type.Integer({ minimum: 0 }),
  spec: CaptureSpec,
  status: CaptureStatus,
  /** The signal(s) that triggered it, for signals.json: the received text where kept, else the parsed event. */
  signals: Type.Array(Type.Unknown()),
  /** Signals of other policies that joined it (their signals are in `signals` too), in the order they came. */
  joined: Type.Optional(Type.Array(JoinedSignal)),
});
export type Capture = Static<typeof Capture>;
