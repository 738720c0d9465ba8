import { canonicalJson, sha256Hex } from '../core/canonical-json.js';
import { bareContainerID } from '../core/kube-names.js';
import { parsePriority, type Signal, type SignalTarget } from '../core/signal.js';
import type { AlertmanagerAlert, AlertmanagerWebhook } from './alertmanager-webhook.js';
import { checkTarget, checkTime, dropUndefined, present, type IntakeResult } from './intake-result.js';

/** Which alert labels name the target; the first label present wins. Configurable per install. */
export interface AlertmanagerLabelKeys {
  readonly namespace: readonly string[];
  readonly pod: readonly string[];
  readonly container: readonly string[];
  readonly containerID: readonly string[];
  readonly rule: readonly string[];
  readonly priority: readonly string[];
}

/**
 * kube-state-metrics / cAdvisor conventions, then Falcosidekick's Alertmanager output (which turns
 * every output field into a label, `.` → `_`, and has no `alertname`: the rule is in `rule`).
 */
export const DEFAULT_LABEL_KEYS: AlertmanagerLabelKeys = {
  namespace: ['namespace', 'k8s_ns_name'],
  pod: ['pod', 'k8s_pod_name'],
  container: ['container', 'container_name', 'k8s_container_name'],
  containerID: ['container_full_id', 'container_id'],
  rule: ['rule', 'alertname'],
  priority: ['priority', 'severity'],
};

/**
 * An Alertmanager webhook (v4) → one Signal per firing alert. Resolved alerts are ignored.
 * Throws INTAKE_* AmberErrors for any alert that is unusable, so a batch is all or nothing.
 */
export function normaliseAlertmanager(hook: AlertmanagerWebhook, keys: AlertmanagerLabelKeys = DEFAULT_LABEL_KEYS): IntakeResult {
  const result: IntakeResult = { signals: [], ignored: [] };
  for (const [index, alert] of hook.alerts.entries()) {
    const at = `alerts/${index}`;
    checkTime(alert.startsAt, `${at}/startsAt`);
    if (alert.status === 'resolved') {
      result.ignored.push({ index, reason: 'alert is resolved' });
      continue;
    }
    const pick = (names: readonly string[]): [string | undefined, string | undefined] => {
      for (const name of names) {
        const v = present(alert.labels[name]);
        if (v !== undefined) return [v, `${at}/labels/${name}`];
      }
      return [undefined, undefined];
    };
    const [namespace, nsFrom] = pick(keys.namespace);
    const [pod, podFrom] = pick(keys.pod);
    const [container, ctrFrom] = pick(keys.container);
    const [rawID, idFrom] = pick(keys.containerID);
    // kube-state-metrics writes `containerd://<64 hex>`; Falcosidekick the bare 12-char id.
    const containerID = rawID === undefined ? undefined : bareContainerID(rawID);
    if (namespace === undefined || pod === undefined) {
      result.ignored.push({ index, reason: 'alert names no pod (no namespace/pod label)' });
      continue;
    }
    if (containerID === 'host') {
      result.ignored.push({ index, reason: 'alert is not from a container (container_id is host)' });
      continue;
    }
    const target: SignalTarget = checkTarget(dropUndefined({ namespace, pod, container, containerID }), {
      namespace: nsFrom,
      pod: podFrom,
      container: ctrFrom,
      containerID: idFrom,
    });
    result.signals.push(toSignal(hook, alert, target, keys));
  }
  return result;
}

function toSignal(hook: AlertmanagerWebhook, alert: AlertmanagerAlert, target: SignalTarget, keys: AlertmanagerLabelKeys): Signal {
  const first = (names: readonly string[]) => names.map((n) => present(alert.labels[n])).find((v) => v !== undefined);
  // The first label that reads as a priority: `priority: P1` must not hide `severity: critical`.
  const normalised = keys.priority
    .map((n) => present(alert.labels[n]))
    .map((v) => (v === undefined ? undefined : parsePriority(v)))
    .find((p) => p !== undefined);
  // The group's context travels with the alert so signals.json is self-explanatory.
  const raw = { receiver: hook.receiver, groupKey: hook.groupKey, externalURL: hook.externalURL, alert };
  const identity = alert.fingerprint ?? sha256Hex(canonicalJson(alert.labels)).slice(0, 16);
  const summary = alert.annotations?.['summary'] ?? alert.annotations?.['description'];
  return {
    source: 'alertmanager',
    rule: first(keys.rule) ?? 'unnamed alert',
    ...(normalised === undefined ? {} : { priority: normalised }),
    time: alert.startsAt,
    tags: (present(alert.labels['tags']) ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
    fields: { ...alert.labels },
    target,
    ...(summary === undefined ? {} : { summary }),
    // HA Alertmanager pairs deliver the same alert twice: (fingerprint, startsAt) is its identity.
    deliveryKey: `alertmanager:${identity}:${alert.startsAt}`,
    raw,
  };
}
