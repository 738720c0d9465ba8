import type { CaptureSpec, CaptureTrigger, EvidenceSettings, IncludeItem } from './capture.js';
import { signalDigest, type Signal } from './signal.js';

/** A policy's verdict on a signal: capture this, this way. */
export interface Decision {
  readonly policy: string;
  readonly signal: Signal;
  readonly containers: 'target' | 'all';
  readonly cooldownMs: number;
  readonly timeoutSeconds: number;
  readonly include: readonly IncludeItem[];
  readonly evidence: EvidenceSettings;
}

/** What decides whether a decision's capture already exists: its dedupe and delivery keys and the cooldown. */
export interface CaptureKeys {
  readonly dedupeKey: string;
  readonly deliveryKey?: string | undefined;
  readonly cooldownMs: number;
}

/** The capture a decision asks for, before the queue gives it an id. */
export interface PlannedCapture extends CaptureKeys {
  readonly spec: CaptureSpec;
  readonly signals: readonly unknown[];
}

/**
 * The keys of the capture a decision asks for. The dedupe key is policy/namespace/pod/container
 * (`*` when every container is captured, or when the alert named none), so one container is
 * captured at most once per policy per cooldown.
 */
export function captureKeys(d: Decision): CaptureKeys {
  const t = d.signal.target;
  if (t.namespace === undefined || t.pod === undefined) throw new Error('a capture needs a signal with namespace and pod');
  const container = d.containers === 'all' ? '*' : (t.container ?? t.containerID ?? '*');
  return {
    dedupeKey: `${d.policy}/${t.namespace}/${t.pod}/${container}`,
    deliveryKey: d.signal.deliveryKey === undefined ? undefined : `${d.policy}/${d.signal.deliveryKey}`,
    cooldownMs: d.cooldownMs,
  };
}

/**
 * Turns a decision into a capture request: its keys (`keys`, when the caller already made them)
 * and everything the capture will need, including the signal's digest.
 */
export function planCapture(d: Decision, keys: CaptureKeys = captureKeys(d)): PlannedCapture {
  const t = d.signal.target;
  if (t.namespace === undefined || t.pod === undefined) throw new Error('a capture needs a signal with namespace and pod');
  return {
    dedupeKey: keys.dedupeKey,
    deliveryKey: keys.deliveryKey,
    cooldownMs: keys.cooldownMs,
    spec: {
      target: {
        namespace: t.namespace,
        pod: t.pod,
        ...(t.podUID === undefined ? {} : { podUID: t.podUID }),
        ...(d.containers === 'all' || t.container === undefined ? {} : { container: t.container }),
        ...(d.containers === 'all' || t.containerID === undefined ? {} : { containerID: t.containerID }),
      },
      trigger: {
        source: d.signal.source,
        rule: d.signal.rule,
        ...(d.signal.priority === undefined ? {} : { priority: d.signal.priority }),
        time: d.signal.time,
        policy: d.policy,
        signalDigest: signalDigest(d.signal),
        ...admissionActor(d.signal),
      },
      containers: d.containers,
      timeoutSeconds: d.timeoutSeconds,
      include: [...d.include],
      evidence: { ...d.evidence },
    },
    signals: [d.signal.rawText ?? d.signal.raw],
  };
}

/**
 * For an admission signal, how its caller was authenticated, and the requesting user, their groups
 * and the command from the signal's fields — recorded as that caller's assertion, not as facts.
 */
function admissionActor(signal: Decision['signal']): Pick<CaptureTrigger, 'caller' | 'asserted'> {
  if (signal.source !== 'admission') return {};
  const f = signal.fields;
  const user = f['user.name'];
  const groups = f['user.groups'];
  const command = f['exec.command'];
  // a signal made without a caller (a test, `amber policy test`) asserts as anyone would
  const by = signal.caller ?? 'unauthenticated';
  return {
    caller: by,
    asserted: {
      by,
      ...(typeof user === 'string' ? { user } : {}),
      ...(typeof groups === 'string' && groups !== '' ? { groups: groups.split(',') } : {}),
      ...(typeof command === 'string' ? { command } : {}),
    },
  };
}
