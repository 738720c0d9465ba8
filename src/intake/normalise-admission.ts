import { AmberError } from '../core/amber-error.js';
import type { Caller, FieldValue, SignalTarget } from '../core/signal.js';
import type { AdmissionReview } from './admission-review.js';
import { checkTarget, clip, type IntakeResult } from './intake-result.js';

/** What an admission request is to amber. */
export type AdmissionEvent =
  /** An interactive session into a container (exec, attach, debug): a signal for the policies. */
  | { readonly kind: 'session'; readonly result: IntakeResult; readonly dryRun: boolean }
  /** The pod, or an eviction of it, is about to go: the evidence hold may refuse it. */
  | { readonly kind: 'removal'; readonly namespace: string; readonly pod: string; readonly dryRun: boolean }
  | { readonly kind: 'other'; readonly reason: string };

const FIELD_SOURCES = { namespace: 'request.namespace', pod: 'request.name', container: 'request.object.container' } as const;

/**
 * An AdmissionReview → a signal (`pods/exec`, `pods/attach`, `pods/ephemeralcontainers`), a
 * removal (DELETE of a pod, CREATE of `pods/eviction`), or nothing amber acts on. The signal's
 * fields say who and what: `user.name`, `user.groups`, `exec.command`, `exec.container`,
 * `exec.tty`, `admission.operation`, `admission.subresource`, `admission.dryRun`, and
 * `admission.caller` — how the sender of the review was authenticated (`caller`), which is also the
 * signal's `caller`: the user, groups and command are only what that caller asserts.
 */
export function normaliseAdmission(review: AdmissionReview, rawText?: string, caller: Caller = 'unauthenticated'): AdmissionEvent {
  const r = review.request;
  const dryRun = r.dryRun === true;
  if (r.resource.group !== '' || r.resource.resource !== 'pods') return { kind: 'other', reason: `not a pod (${r.resource.resource})` };
  const sub = r.subResource ?? '';
  if ((r.operation === 'DELETE' && sub === '') || (r.operation === 'CREATE' && sub === 'eviction')) {
    if (r.namespace === undefined || r.name === undefined) return { kind: 'other', reason: 'removal without namespace/name' };
    return { kind: 'removal', namespace: r.namespace, pod: r.name, dryRun };
  }
  const session = (r.operation === 'CONNECT' && (sub === 'exec' || sub === 'attach')) || (r.operation === 'UPDATE' && sub === 'ephemeralcontainers');
  if (!session) return { kind: 'other', reason: `${r.operation} ${sub === '' ? 'pods' : `pods/${sub}`} is not watched` };
  if (r.namespace === undefined || r.name === undefined) {
    throw new AmberError('INTAKE_INVALID_PAYLOAD', { path: '/request/name', problem: 'a pods/exec|attach|ephemeralcontainers request names its pod' });
  }
  const { container, command, tty } = sub === 'ephemeralcontainers' ? debugTarget(r.object, r.oldObject) : sessionOptions(r.object);
  const target: SignalTarget = { namespace: r.namespace, pod: r.name };
  if (container !== undefined) target.container = container;
  checkTarget(target, FIELD_SOURCES);
  const fields: Record<string, FieldValue> = {
    'admission.operation': r.operation,
    'admission.subresource': sub,
    'admission.dryRun': dryRun,
    'admission.caller': caller,
  };
  if (r.userInfo.username !== undefined) fields['user.name'] = r.userInfo.username;
  if (r.userInfo.groups !== undefined) fields['user.groups'] = r.userInfo.groups.join(',');
  if (command !== undefined) fields['exec.command'] = command.join(' ');
  if (container !== undefined) fields['exec.container'] = container;
  if (tty !== undefined) fields['exec.tty'] = tty;
  const who = r.userInfo.username ?? 'someone';
  return {
    kind: 'session',
    dryRun,
    result: {
      signals: [
        {
          source: 'admission',
          rule: `pods/${sub}`,
          time: new Date().toISOString(),
          tags: ['admission', sub],
          fields,
          target,
          summary: clip(
            `${who} ${sub === 'ephemeralcontainers' ? 'added a debug container to' : sub} ${r.namespace}/${r.name}${container ? `/${container}` : ''}${command ? `: ${command.join(' ')}` : ''}`,
          ),
          deliveryKey: `admission/${r.uid}`,
          caller,
          raw: review,
          ...(rawText !== undefined ? { rawText } : {}),
        },
      ],
      ignored: [],
    },
  };
}

/** PodExecOptions / PodAttachOptions: container, command, tty. */
function sessionOptions(object: unknown): { container?: string; command?: string[]; tty?: boolean } {
  const o = (object ?? {}) as { container?: unknown; command?: unknown; tty?: unknown };
  return {
    ...(typeof o.container === 'string' && o.container !== '' ? { container: o.container } : {}),
    ...(Array.isArray(o.command) ? { command: o.command.map(String) } : {}),
    ...(typeof o.tty === 'boolean' ? { tty: o.tty } : {}),
  };
}

/** `kubectl debug`: the ephemeral container added by this update, and the container it targets. */
function debugTarget(object: unknown, oldObject: unknown): { container?: string; command?: string[]; tty?: boolean } {
  type Eph = { name?: unknown; targetContainerName?: unknown; command?: unknown };
  const list = (o: unknown): Eph[] => ((o as { spec?: { ephemeralContainers?: unknown } } | null)?.spec?.ephemeralContainers as Eph[] | undefined) ?? [];
  const before = new Set(list(oldObject).map((e) => e.name));
  const added = list(object).find((e) => !before.has(e.name)) ?? list(object).at(-1);
  return {
    ...(typeof added?.targetContainerName === 'string' ? { container: added.targetContainerName } : {}),
    ...(Array.isArray(added?.command) ? { command: added.command.map(String) } : {}),
  };
}
