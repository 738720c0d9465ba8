import { AmberError } from '../core/amber-error.js';
import { parsePriority, type SignalTarget } from '../core/signal.js';
import type { FalcoEvent } from './falco-event.js';
import { checkTarget, checkTime, clip, flattenFields, present, type IntakeResult } from './intake-result.js';

/** Rules that describe Falco itself or a delivery test, never a workload. */
function ignoredRule(rule: string): string | undefined {
  if (rule.startsWith('Falco internal:')) return 'Falco internal event';
  if (rule === 'Test rule') return "Falcosidekick's test event";
  return undefined;
}

function ignore(reason: string): IntakeResult {
  return { signals: [], ignored: [{ index: 0, reason }] };
}

/** Which output field each target name came from (for INTAKE_BAD_NAME), made once. */
const FIELDS_FULL_ID = {
  namespace: 'output_fields.k8s.ns.name',
  pod: 'output_fields.k8s.pod.name',
  podUID: 'output_fields.k8s.pod.uid',
  container: 'output_fields.container.name',
  containerID: 'output_fields.container.full_id',
} as const;
const FIELDS_SHORT_ID = { ...FIELDS_FULL_ID, containerID: 'output_fields.container.id' } as const;

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

  const skip = ignoredRule(event.rule);
  if (skip) return ignore(skip);

  const f = event.output_fields;
  const shortID = present(f['container.id']);
  if (shortID === undefined || shortID === 'host') return ignore('event is not from a container (container.id is host or absent)');
  const namespace = present(f['k8s.ns.name']);
  const pod = present(f['k8s.pod.name']);
  if (namespace === undefined || pod === undefined) return ignore('event has no Kubernetes pod (k8s.ns.name / k8s.pod.name absent)');
  const fullID = present(f['container.full_id']);
  const podUID = present(f['k8s.pod.uid']);
  const container = present(f['container.name']);
  // Built without undefined members (what dropUndefined would leave), keys in the same order.
  const target: SignalTarget = { namespace, pod };
  if (podUID !== undefined) target.podUID = podUID;
  if (container !== undefined) target.container = container;
  target.containerID = fullID ?? shortID;
  checkTarget(target, fullID === undefined ? FIELDS_SHORT_ID : FIELDS_FULL_ID);
  return {
    signals: [
      {
        source: 'falco',
        rule: event.rule,
        priority,
        time: event.time,
        tags: event.tags ?? [],
        fields: flattenFields(f),
        target,
        ...(event.output === undefined ? {} : { summary: event.output }),
        ...(event.uuid === undefined ? {} : { deliveryKey: `falcosidekick:${event.uuid}` }),
        raw: event,
        ...(rawText === undefined ? {} : { rawText }),
      },
    ],
    ignored: [],
  };
}
