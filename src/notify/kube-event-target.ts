import type { CaptureEventsApi } from '../kube/capture-events.js';
import type { Notification } from './notification.js';
import type { NotifyTarget } from './notifier.js';

export interface KubeEventTargetOptions {
  readonly name: string;
  readonly on: ReadonlySet<'sealed' | 'failed'>;
  readonly policies?: ReadonlySet<string> | undefined;
  /** Events on the Capture resources, in amber's namespace (kube/capture-events.ts). */
  readonly events: CaptureEventsApi;
}

/**
 * A Kubernetes Event on the capture's Capture resource (README "Notifications"): Normal
 * `CaptureSealed` with the indicators and the bundle, Warning `CaptureFailed` with the reason.
 * Delivery is the notifier's: asynchronous, retried with backoff on 429/5xx/lost connections.
 */
export function kubeEventTarget(o: KubeEventTargetOptions): NotifyTarget {
  return {
    name: o.name,
    type: 'kubernetes-event',
    on: o.on,
    ...(o.policies === undefined ? {} : { policies: o.policies }),
    where: `events.k8s.io/v1 in namespace ${o.events.namespace}`,
    send: (n) =>
      o.events.publish({
        captureId: n.capture.id,
        // one Event per capture, outcome and configured notification (a DNS label each)
        key: `${n.event === 'capture.sealed' ? 'sealed' : 'failed'}.${o.name}`,
        type: n.event === 'capture.sealed' ? 'Normal' : 'Warning',
        reason: n.event === 'capture.sealed' ? 'CaptureSealed' : 'CaptureFailed',
        action: n.event === 'capture.sealed' ? 'Seal' : 'Capture',
        note: eventNote(n),
        eventTime: new Date(n.sentAt),
      }),
  };
}

/**
 * What `kubectl describe capture` shows: the outcome, target and policy first, then the
 * indicators and bundle (sealed) or the capture id, trigger and the runtime's words (failed) — the
 * alert's and the runtime's text last, so the events API's 1 KiB limit cuts those, never the
 * outcome. Those strings come from the alert and the cluster: control characters become spaces,
 * so a rule text cannot forge a second line in a terminal.
 */
export function eventNote(n: Notification): string {
  const t = n.target;
  const target = `${t.namespace}/${t.pod}${t.container === undefined ? '' : ` container ${t.container}`}${t.node === undefined ? '' : ` on ${t.node}`}`;
  const who = `${target} (policy ${n.capture.policy})`;
  const tail = `capture ${n.capture.id}; trigger ${n.trigger.source}: ${n.trigger.rule}`;
  if (n.event === 'capture.failed') {
    return clean(`Failed (${n.reason ?? 'unknown reason'}) ${who}; ${tail}${n.message === undefined ? '' : `; ${n.message}`}`);
  }
  const report =
    n.report === undefined
      ? 'no triage report'
      : n.report.state !== 'Written'
        ? `triage report ${n.report.state}`
        : n.report.indicators.length === 0
          ? 'indicators: none'
          : `indicators: ${n.report.indicators.join(', ')}`;
  return clean(`Sealed ${who}; ${report}; bundle ${n.bundle?.uri ?? 'unknown'}; ${tail}`);
}

const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
