import { AmberError, isAmberError } from '../../core/amber-error.js';
import type { CaptureStatus } from '../../core/capture.js';
import { apiFailure } from '../../kube/api-failure.js';
import type { CaptureApi } from '../../kube/capture-api.js';
import { LABELS, type CaptureResource } from '../../kube/capture-resource.js';
import { queueError } from './queue-error.js';

export type CaptureRestore = NonNullable<CaptureStatus['restores']>[number];
export type RestoreRequestEntry = NonNullable<CaptureStatus['restoreRequests']>[number];

const ATTEMPTS = 5;

/**
 * Changes the status of the Capture resource `id` by `change` (which returns the new status, or
 * undefined when there is nothing to write), read again and written with its resourceVersion, so
 * a status the agent writes meanwhile is kept (a 409 reads again and changes that). Rejects with
 * the queue's codes: CAPTURE_NOT_FOUND when no Capture has the id, KUBE_FORBIDDEN, QUEUE_UNAVAILABLE.
 */
export async function changeCaptureStatus(api: CaptureApi, id: string, change: (status: CaptureStatus) => CaptureStatus | undefined): Promise<void> {
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw queueError(what, apiFailure(e));
    }
  };
  for (let attempt = 1; ; attempt++) {
    const listed = await call('list', () => api.list({ labelSelector: `${LABELS.id}=${id}` }));
    const current = (listed.items ?? [])[0] as CaptureResource | undefined;
    if (current === undefined) throw new AmberError('CAPTURE_NOT_FOUND', { id });
    const status = change((current.status ?? {}) as CaptureStatus);
    if (status === undefined) return;
    try {
      await call('update status', () => api.replaceStatus(current.metadata.name, { ...current, status }));
      return;
    } catch (e) {
      if (!isAmberError(e, 'QUEUE_CONFLICT') || attempt >= ATTEMPTS) throw e;
    }
  }
}

/** Adds a restore to the Capture's `status.restores` (the one `amber restore` made); the same number twice is written once. */
export async function addCaptureRestore(api: CaptureApi, id: string, restore: CaptureRestore): Promise<void> {
  await changeCaptureStatus(api, id, (status) => {
    const restores = status.restores ?? [];
    return restores.some((r) => r.number === restore.number) ? undefined : { ...status, restores: [...restores, restore] };
  });
}

/** Sets the restore request `entry.id` of the Capture to `entry` (added when it is not there yet). */
export async function setRestoreRequest(api: CaptureApi, id: string, entry: RestoreRequestEntry): Promise<void> {
  await changeCaptureStatus(api, id, (status) => {
    const requests = status.restoreRequests ?? [];
    const at = requests.findIndex((r) => r.id === entry.id);
    return { ...status, restoreRequests: at < 0 ? [...requests, entry] : requests.map((r, i) => (i === at ? entry : r)) };
  });
}

/**
 * `status` as written over `theirs` (the resource's): restores and restore requests are written by
 * others meanwhile (amber restore, the responder), so a status that does not carry them keeps theirs.
 */
export function keepingRestores(status: CaptureStatus, theirs: Partial<CaptureStatus>): CaptureStatus {
  return {
    ...status,
    ...(status.restores === undefined && theirs.restores !== undefined ? { restores: theirs.restores } : {}),
    ...(status.restoreRequests === undefined && theirs.restoreRequests !== undefined ? { restoreRequests: theirs.restoreRequests } : {}),
  };
}
