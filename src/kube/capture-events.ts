import { CustomObjectsApi, EventsV1Api, V1MicroTime, type EventsV1Event, type KubeConfig } from '@kubernetes/client-node';
import { apiFailure, describeFailure } from './api-failure.js';
import { CAPTURE_API_VERSION, CAPTURE_GROUP, CAPTURE_PLURAL, CAPTURE_VERSION, LABELS } from './capture-resource.js';
import { pooledApiClient } from './pooled-api-client.js';

/** Who reports amber's Events (`reportingController`): a qualified name, as the events API requires. */
export const REPORTING_CONTROLLER = `${CAPTURE_GROUP}/amber`;

/** The events API's own limits (k8s.io/kubernetes pkg/apis/core/validation/events.go). */
export const EVENT_LIMITS = { note: 1024, reason: 128, action: 128, reportingInstance: 128 } as const;

/** What an Event says about a capture; the Capture resource it is about is found by the capture's id. */
export interface CaptureEvent {
  /** The capture's id (the `forensics.amber.dev/id` label of its Capture resource). */
  readonly captureId: string;
  /** Makes the Event's name: the same capture, outcome and key always name the same Event. */
  readonly key: string;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly action: string;
  readonly note: string;
  readonly eventTime: Date;
}

/** One attempt's outcome, in the shape the notifier reads (notify/notifier.ts `Delivery`). */
export type EventWrite = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly reason: string; readonly retryAfterMs?: number };

/**
 * Events about Capture resources, in the namespace the Captures live in (amber's own): an Event is
 * never written anywhere else — in particular never in the target pod's namespace, where the
 * suspect could read it (docs/threat-model.md).
 */
export interface CaptureEventsApi {
  /** amber's namespace: where the Captures and their Events are. */
  readonly namespace: string;
  /** Creates the Event on the capture's Capture resource (events.k8s.io/v1). */
  publish(event: CaptureEvent): Promise<EventWrite>;
}

export interface CaptureEventsOptions {
  readonly namespace: string;
  /** `reportingInstance`: this process (the pod's name, else the node's). */
  readonly reportingInstance: string;
  /** A request not answered in this long is cut (and may be retried). */
  readonly timeoutMs?: number;
}

/**
 * Events through the API server's `events.k8s.io/v1` (what `kubectl describe capture` and
 * `kubectl events` show). The Event's name is derived from the Capture's and the key, so a retry
 * whose first attempt did reach the server (its answer lost) gets 409 AlreadyExists, which counts
 * as delivered: one Event per capture outcome, however many attempts.
 */
export function captureEventsApi(kc: KubeConfig, o: CaptureEventsOptions): CaptureEventsApi {
  const timeout = { timeoutMs: o.timeoutMs ?? 10_000 };
  const events = pooledApiClient(kc, EventsV1Api, timeout);
  const captures = pooledApiClient(kc, CustomObjectsApi, timeout);
  const instance = o.reportingInstance.slice(0, EVENT_LIMITS.reportingInstance);
  const namespace = o.namespace;
  return {
    namespace,
    async publish(e) {
      let regarding: { name: string; uid?: string } | undefined;
      try {
        const listed = (await captures.listNamespacedCustomObject({
          group: CAPTURE_GROUP,
          version: CAPTURE_VERSION,
          namespace,
          plural: CAPTURE_PLURAL,
          labelSelector: `${LABELS.id}=${e.captureId}`,
        })) as { items?: { metadata?: { name?: string; uid?: string } }[] };
        const meta = listed.items?.[0]?.metadata;
        if (meta?.name !== undefined) regarding = { name: meta.name, ...(meta.uid !== undefined ? { uid: meta.uid } : {}) };
      } catch (err) {
        return failed('finding the Capture', err);
      }
      // nothing to hang the Event on (deleted by hand): another attempt would not find it either
      if (regarding === undefined) return { ok: false, retry: false, reason: `no Capture resource for capture ${e.captureId} in ${namespace}` };
      const body: EventsV1Event = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName(regarding.name, e.key), namespace, labels: { [LABELS.id]: e.captureId } },
        eventTime: new V1MicroTime(e.eventTime.getTime()),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: instance,
        action: e.action.slice(0, EVENT_LIMITS.action),
        reason: e.reason.slice(0, EVENT_LIMITS.reason),
        type: e.type,
        note: truncateUtf8(e.note, EVENT_LIMITS.note),
        // the Capture in amber's namespace, never the target pod
        regarding: { apiVersion: CAPTURE_API_VERSION, kind: 'Capture', namespace, name: regarding.name, ...(regarding.uid ? { uid: regarding.uid } : {}) },
      };
      try {
        await events.createNamespacedEvent({ namespace, body });
        return { ok: true };
      } catch (err) {
        // an earlier attempt got through and only its answer was lost: that Event is this one
        if (apiFailure(err).status === 409) return { ok: true };
        return failed('creating the Event', err);
      }
    },
  };
}

function failed(what: string, err: unknown): EventWrite {
  const f = apiFailure(err);
  const forbidden =
    f.status === 401 || f.status === 403 ? " (the ServiceAccount needs create on events.k8s.io events, and list on captures, in amber's namespace)" : '';
  return {
    ok: false,
    retry: f.transient,
    reason: `${what}: ${describeFailure(f)}${forbidden}`,
    ...(f.retryAfterSeconds !== undefined ? { retryAfterMs: f.retryAfterSeconds * 1000 } : {}),
  };
}

/** `<capture resource name>.<key>`: a DNS subdomain (the key is made of DNS labels). */
export function eventName(captureResource: string, key: string): string {
  return `${captureResource}.${key}`.slice(0, 253).replace(/[.-]+$/, '');
}

/** At most `limit` UTF-8 bytes (the events API counts bytes), cut at a character boundary, `…` marking the cut. */
export function truncateUtf8(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text;
  let out = '';
  let bytes = 0;
  const budget = limit - Buffer.byteLength('…');
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > budget) break;
    out += ch;
    bytes += n;
  }
  return `${out}…`;
}
