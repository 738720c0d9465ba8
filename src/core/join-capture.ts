/**
 * One freeze per container. A checkpoint freezes the container for a moment the suspect might
 * notice; several policies matching one container at once (a shell that also drops a binary and
 * opens a connection) must not freeze it once each. A signal whose capture would target a container
 * that another capture is about to checkpoint (Pending) or is checkpointing joins that capture:
 * its signal and policy are added to the capture's signals and custody log, and the strictest
 * evidence settings of every policy involved win. Once the capture is Uploading, its archive is
 * taken and a new signal gets a capture of its own.
 */
import type { Capture, CaptureSpec, CaptureTarget, EvidenceSettings, JoinedSignal, LockMode } from './capture.js';
import type { PlannedCapture } from './decision.js';

/** What deciding a join needs of a capture (a queue may keep just this in memory). */
export interface JoinView {
  readonly spec: Pick<CaptureSpec, 'target' | 'containers' | 'evidence'>;
  readonly status: Pick<Capture['status'], 'phase'>;
}

/** The phases a capture can still be joined in. */
export const JOINABLE_PHASES: ReadonlySet<string> = new Set(['Pending', 'Checkpointing']);

/** The pod a target is in (what a join is looked up by): `namespace/pod`. */
export function podKey(t: Pick<CaptureTarget, 'namespace' | 'pod'>): string {
  return `${t.namespace}/${t.pod}`;
}

function sameContainer(a: CaptureTarget, b: CaptureTarget): boolean {
  if (a.container !== undefined && b.container !== undefined) return a.container === b.container;
  // Falco names containers by a 12-character prefix of the runtime's id
  if (a.containerID !== undefined && b.containerID !== undefined) return a.containerID.startsWith(b.containerID) || b.containerID.startsWith(a.containerID);
  // neither alert named a container: the pod's only one, as resolution will find
  return a.container === undefined && b.container === undefined && a.containerID === undefined && b.containerID === undefined;
}

/**
 * Whether `request` may join `capture` instead of being captured on its own: the same pod (and pod
 * uid when both know it), the capture still Pending or Checkpointing, and it covers the request's
 * container — or, while Pending, it can be widened to every container of the pod.
 */
export function canJoin(capture: JoinView, request: Pick<PlannedCapture, 'spec'>): boolean {
  const phase = capture.status.phase;
  if (!JOINABLE_PHASES.has(phase)) return false;
  const a = capture.spec.target,
    b = request.spec.target;
  if (a.namespace !== b.namespace || a.pod !== b.pod) return false;
  if (a.podUID !== undefined && b.podUID !== undefined && a.podUID !== b.podUID) return false;
  // the Capture schema holds at most 32 recipients; more would need a capture of its own
  const recipients = new Set([...(capture.spec.evidence.encryption?.recipients ?? []), ...(request.spec.evidence.encryption?.recipients ?? [])]);
  if (recipients.size > MAX_RECIPIENTS) return false;
  if (capture.spec.containers === 'all') return true;
  if (request.spec.containers === 'all') return phase === 'Pending'; // widened before any checkpoint is taken
  return sameContainer(a, b);
}

const MAX_RECIPIENTS = 32;

const LOCK_RANK: Record<LockMode, number> = { none: 0, governance: 1, compliance: 2 };

/**
 * The stricter of two policies' evidence settings: the longer retention, the stronger lock, a legal
 * hold if either asks, and encryption if either asks (to every recipient named: each policy's
 * readers can read what it asked for).
 */
export function strictestEvidence(a: EvidenceSettings, b: EvidenceSettings): EvidenceSettings {
  const recipients = [...new Set([...(a.encryption?.recipients ?? []), ...(b.encryption?.recipients ?? [])])];
  return {
    retentionDays: Math.max(a.retentionDays, b.retentionDays),
    lock: LOCK_RANK[b.lock] > LOCK_RANK[a.lock] ? b.lock : a.lock,
    ...(a.legalHold === true || b.legalHold === true ? { legalHold: true } : {}),
    ...(recipients.length > 0 ? { encryption: { recipients } } : {}),
  };
}

/** The capture's spec once `request` has joined: the target stays; what is captured and kept is the union and the strictest. */
function joinedSpec(spec: CaptureSpec, request: CaptureSpec): CaptureSpec {
  return {
    ...spec,
    containers: spec.containers === 'all' || request.containers === 'all' ? 'all' : 'target',
    ...(request.containers === 'all' && spec.containers !== 'all'
      ? {
          target: {
            namespace: spec.target.namespace,
            pod: spec.target.pod,
            ...(spec.target.podUID ? { podUID: spec.target.podUID } : {}),
            ...(spec.target.node ? { node: spec.target.node } : {}),
          },
        }
      : {}),
    timeoutSeconds: Math.max(spec.timeoutSeconds, request.timeoutSeconds),
    include: [...new Set([...spec.include, ...request.include])],
    evidence: strictestEvidence(spec.evidence, request.evidence),
  };
}

/** `capture` with `request` joined at `at` (the caller checked `canJoin`). */
export function joinCapture(capture: Capture, request: PlannedCapture, at: string): Capture {
  const joined: JoinedSignal = {
    at,
    dedupeKey: request.dedupeKey,
    ...(request.deliveryKey === undefined ? {} : { deliveryKey: request.deliveryKey }),
    cooldownMs: request.cooldownMs,
    trigger: request.spec.trigger,
    phase: capture.status.phase as JoinedSignal['phase'],
  };
  return {
    ...capture,
    spec: joinedSpec(capture.spec, request.spec),
    signals: [...capture.signals, ...request.signals],
    joined: [...(capture.joined ?? []), joined],
  };
}
