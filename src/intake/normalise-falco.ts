import { AmberError } from '../core/amber-error.js';
import { canonicalJson, sha256Hex } from '../core/canonical-json.js';
import { parsePriority } from '../core/signal.js';
import type { FalcoEvent } from './falco-event.js';
import { checkTarget, checkTime, clip, dropUndefined, flattenFields, present, type IntakeResult } from './intake-result.js';

/** Rules that describe Falco itself or a delivery test, never a workload. */
function ignoredRule(rule: string): string | undefined {
  if (rule.startsWith('Falco internal:')) return 'Falco internal event';
  if (rule === 'Test rule') return "Falcosidekick's test event";
  return undefined;
}

/**
 * A Falco or Falcosidekick event → one Signal, or a reason to ignore it. Throws an AmberError
 * (INTAKE_*) for input that is well-formed JSON but not a usable event.
 */
export function normaliseFalco(event: FalcoEvent, rawText?: string): IntakeResult {
  const priority = parsePriority(event.priority);
  if (priority === undefined) {
    throw new AmberError('INTAKE_INVALID_PAYLOAD', { path: '/priority', problem: `'${clip(event.priority)}' is not a Falco priority` });
  }
  checkTime(event.time, 'time');
  const ignore = (reason: string): IntakeResult => ({ signals: [], ignored: [{ index: 0, reason }] });

  const skip = ignoredRule(event.rule);
  if (skip) return ignore(skip);

  const f = event.output_fields;
  const shortID = present(f['container.id']);
  if (shortID === undefined || shortID === 'host') return ignore('event is not from a container (container.id is host or absent)');
  const namespace = present(f['k8s.ns.name']);
  const pod = present(f['k8s.pod.name']);
  if (namespace === undefined || pod === undefined) return ignore('event has no Kubernetes pod (k8s.ns.name / k8s.pod.name absent)');
  const fullID = present(f['container.full_id']);
  const target = checkTarget(
    {
      namespace,
      pod,
      podUID: present(f['k8s.pod.uid']),
      container: present(f['container.name']),
      containerID: fullID ?? shortID,
    },
    {
      namespace: 'output_fields.k8s.ns.name',
      pod: 'output_fields.k8s.pod.name',
      podUID: 'output_fields.k8s.pod.uid',
      container: 'output_fields.container.name',
      containerID: fullID === undefined ? 'output_fields.container.id' : 'output_fields.container.full_id',
    },
  );
  return {
    signals: [
      {
        source: 'falco',
        rule: event.rule,
        priority,
        time: event.time,
        tags: event.tags ?? [],
        fields: flattenFields(f),
        target: dropUndefined(target),
        ...(event.output === undefined ? {} : { summary: event.output }),
        ...(event.uuid === undefined ? {} : { deliveryKey: `falcosidekick:${event.uuid}` }),
        digest: rawText === undefined ? sha256Hex(canonicalJson(event)) : sha256Hex(rawText),
        raw: event,
        ...(rawText === undefined ? {} : { rawText }),
      },
    ],
    ignored: [],
  };
}
