import { Compile } from 'typebox/compile';
import { AmberError } from '../core/amber-error.js';
import { sha256Hex } from '../core/canonical-json.js';
import { Capture, type CaptureStatus } from '../core/capture.js';
import { podKey } from '../core/join-capture.js';

export const CAPTURE_GROUP = 'forensics.amber.dev';
export const CAPTURE_VERSION = 'v1alpha1';
export const CAPTURE_PLURAL = 'captures';
export const CAPTURE_API_VERSION = `${CAPTURE_GROUP}/${CAPTURE_VERSION}`;

/** Labels amber selects Captures by (values are label-safe: ids, node names, 40-hex digests). */
export const LABELS = {
  id: `${CAPTURE_GROUP}/id`,
  node: `${CAPTURE_GROUP}/node`,
  dedupe: `${CAPTURE_GROUP}/dedupe`,
  delivery: `${CAPTURE_GROUP}/delivery`,
  /** digest40 of `namespace/pod`: the captures a new signal for that pod may join */
  pod: `${CAPTURE_GROUP}/pod`,
  /** `pending` | `counted` | `exceeded`: where the capture stands with the budgets (queue/kube/kube-budgets.ts) */
  budget: `${CAPTURE_GROUP}/budget`,
  /** the UTC hour it was queued in, `yyyymmddhh`: the budgets list only the captures of their window */
  hour: `${CAPTURE_GROUP}/hour`,
} as const;

/** What the spec's schema does not hold travels in annotations (a structural schema would prune it). */
export const ANNOTATIONS = {
  id: `${CAPTURE_GROUP}/id`,
  createdAt: `${CAPTURE_GROUP}/created-at`,
  dedupeKey: `${CAPTURE_GROUP}/dedupe-key`,
  deliveryKey: `${CAPTURE_GROUP}/delivery-key`,
  cooldownMs: `${CAPTURE_GROUP}/cooldown-ms`,
  signals: `${CAPTURE_GROUP}/signals`,
  /** JoinedSignal[] as JSON: the signals of other policies that joined this capture */
  joined: `${CAPTURE_GROUP}/joined`,
  /** the resourceVersion a budget-pending Capture was created at, kept by the first join (which changes it) */
  createdRevision: `${CAPTURE_GROUP}/created-revision`,
} as const;

export interface CaptureResource {
  apiVersion: string;
  kind: 'Capture';
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Capture['spec'];
  status?: CaptureStatus;
}

/** 40 hex characters of SHA-256: label-safe and collision-free enough for keys. */
export function digest40(text: string): string {
  return sha256Hex(text).slice(0, 40);
}

/**
 * The resource name of the `seq`-th capture for a dedupe key: derived from the key, so replicas
 * that receive the same alert create the same name and the API server lets exactly one win (409).
 */
export function captureName(dedupeKey: string, seq: number): string {
  return `cap-${digest40(dedupeKey)}-${seq}`;
}

export function toResource(capture: Capture, name: string, node: string | undefined): CaptureResource {
  return {
    apiVersion: CAPTURE_API_VERSION,
    kind: 'Capture',
    metadata: {
      name,
      labels: {
        [LABELS.id]: capture.id,
        [LABELS.dedupe]: digest40(capture.dedupeKey),
        [LABELS.pod]: digest40(podKey(capture.spec.target)),
        ...(node !== undefined ? { [LABELS.node]: node } : {}),
        ...(capture.deliveryKey !== undefined ? { [LABELS.delivery]: digest40(capture.deliveryKey) } : {}),
      },
      annotations: {
        [ANNOTATIONS.id]: capture.id,
        [ANNOTATIONS.createdAt]: capture.createdAt,
        [ANNOTATIONS.dedupeKey]: capture.dedupeKey,
        [ANNOTATIONS.cooldownMs]: String(capture.cooldownMs),
        [ANNOTATIONS.signals]: JSON.stringify(capture.signals),
        ...(capture.deliveryKey !== undefined ? { [ANNOTATIONS.deliveryKey]: capture.deliveryKey } : {}),
        ...(capture.joined !== undefined ? { [ANNOTATIONS.joined]: JSON.stringify(capture.joined) } : {}),
      },
    },
    spec: capture.spec,
    status: capture.status,
  };
}

/**
 * The resource `r` rewritten to hold `joined` (a join: more signals, the joined list, the merged
 * spec). It keeps `r`'s resourceVersion, so the API server refuses it (409) when anything — the
 * agent writing the status included — changed the Capture since `r` was read.
 */
export function withJoins(r: CaptureResource, joined: Capture): CaptureResource {
  const { status: _status, ...rest } = r;
  return {
    ...rest,
    metadata: {
      ...r.metadata,
      annotations: {
        ...r.metadata.annotations,
        // a Capture still waiting for its budget decision is ranked by the revision it was created at
        ...(r.metadata.labels?.[LABELS.budget] === 'pending' &&
        r.metadata.annotations?.[ANNOTATIONS.createdRevision] === undefined &&
        r.metadata.resourceVersion
          ? { [ANNOTATIONS.createdRevision]: r.metadata.resourceVersion }
          : {}),
        [ANNOTATIONS.signals]: JSON.stringify(joined.signals),
        [ANNOTATIONS.joined]: JSON.stringify(joined.joined ?? []),
      },
    },
    spec: joined.spec,
  };
}

const checkCapture = Compile(Capture);

/** A Capture from the resource the API server returned; CAPTURE_RESOURCE_INVALID when it is not one of ours. */
export function fromResource(r: unknown): Capture {
  const res = r as Partial<CaptureResource> | null;
  const a = res?.metadata?.annotations ?? {};
  const name = res?.metadata?.name ?? '?';
  const json = (key: string, absent: string): unknown => {
    try {
      return JSON.parse(a[key] ?? absent);
    } catch {
      throw new AmberError('QUEUE_CORRUPT', { resource: name, problem: `annotation ${key} is not JSON` });
    }
  };
  const signals = json(ANNOTATIONS.signals, '[]');
  const joined = a[ANNOTATIONS.joined] === undefined ? undefined : json(ANNOTATIONS.joined, '[]');
  const capture = {
    id: a[ANNOTATIONS.id],
    createdAt: a[ANNOTATIONS.createdAt] ?? res?.metadata?.creationTimestamp,
    dedupeKey: a[ANNOTATIONS.dedupeKey],
    ...(a[ANNOTATIONS.deliveryKey] !== undefined ? { deliveryKey: a[ANNOTATIONS.deliveryKey] } : {}),
    cooldownMs: Number(a[ANNOTATIONS.cooldownMs] ?? '0'),
    spec: res?.spec,
    // a Capture created by hand (kubectl) has no status yet: it is Pending
    status: res?.status ?? { phase: 'Pending', phaseTimes: {}, attempts: 0 },
    signals,
    ...(joined !== undefined ? { joined } : {}),
  };
  if (!checkCapture.Check(capture)) {
    const first = [...checkCapture.Errors(capture)][0];
    throw new AmberError('QUEUE_CORRUPT', { resource: name, problem: `not an amber Capture: ${first?.instancePath ?? ''} ${first?.message ?? ''}`.trim() });
  }
  return capture as Capture;
}
