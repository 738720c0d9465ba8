import Type, { type Static } from 'typebox';
import { Source } from './signal.js';


export const Phase = Type.Union([
  Type.Literal('Pending'), Type.Literal('Checkpointing'), Type.Literal('Uploading'), Type.Literal('Sealed'), Type.Literal('Failed'),
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
});

export const EvidenceSettings = Type.Object({
  retentionDays: Type.Integer({ minimum: 0 }),
  lock: LockMode,
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
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});
export type CaptureStatus = Static<typeof CaptureStatus>;

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
});
export type Capture = Static<typeof Capture>;
