/**
 * One freeze per container (core/join-capture.ts) on Capture resources. A join rewrites the
 * Capture (signals, joined list, merged spec) with the resourceVersion it was read at, so the API
 * server applies it only if nothing changed in between: when the agent has meanwhile written a
 * status — moved the capture on to Uploading, say — the write is refused (409), the Capture is
 * read again and the join decided again. Replicas joining the same Capture at once converge the
 * same way.
 */
import { isAmberError } from '../../core/amber-error.js';
import type { Capture } from '../../core/capture.js';
import type { PlannedCapture } from '../../core/decision.js';
import { canJoin, joinCapture } from '../../core/join-capture.js';
import { fromResource, withJoins, type CaptureResource } from '../../kube/capture-resource.js';

/** The two calls a join makes on one Capture resource. */
export interface CaptureResourceAccess {
  /** The resource, or undefined when it is gone (404). */
  get(name: string): Promise<CaptureResource | undefined>;
  /** PUT of the resource (not its status); QUEUE_CONFLICT when its resourceVersion is stale. */
  replace(name: string, body: CaptureResource): Promise<CaptureResource>;
}

/** Enough for a few status writes of the agent in a row; past it the signal gets a capture of its own. */
const JOIN_ATTEMPTS = 5;

/**
 * Joins `request` to the Capture `name` and returns the Capture as stored, or undefined when it
 * may not be joined (any more): gone, moved on, or changed too often while we tried.
 */
export async function joinCaptureResource(api: CaptureResourceAccess, name: string, request: PlannedCapture, now: number): Promise<Capture | undefined> {
  for (let attempt = 1; attempt <= JOIN_ATTEMPTS; attempt++) {
    const resource = await api.get(name);
    if (!resource) return undefined;
    const current = fromResource(resource);
    if (!canJoin(current, request)) return undefined;
    const joined = joinCapture(current, request, new Date(now).toISOString());
    try {
      return fromResource(await api.replace(name, withJoins(resource, joined)));
    } catch (e) {
      if (!isAmberError(e, 'QUEUE_CONFLICT')) throw e;
    }
  }
  return undefined;
}

/**
 * Among the Captures of one pod: the one whose joined signals make `request` a duplicate (a signal
 * of the same delivery, or of the same policy and container within its cooldown since it joined).
 */
export function joinedDuplicate(samePod: readonly Capture[], request: PlannedCapture, now: number): Capture | undefined {
  return samePod.find((c) =>
    (c.joined ?? []).some(
      (j) =>
        (request.deliveryKey !== undefined && j.deliveryKey === request.deliveryKey) ||
        (j.dedupeKey === request.dedupeKey && now - Date.parse(j.at) < request.cooldownMs),
    ),
  );
}

/** The Captures `request` may join, oldest first (so that joins converge on one). */
export function joinHosts(samePod: readonly Capture[], request: PlannedCapture): Capture[] {
  return samePod.filter((c) => canJoin(c, request)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
