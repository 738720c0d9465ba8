import { AmberError, isAmberError } from '../../core/amber-error.js';
import type { CaptureStatus } from '../../core/capture.js';
import { apiFailure } from '../../kube/api-failure.js';
import type { CaptureApi } from '../../kube/capture-api.js';
import { LABELS, type CaptureResource } from '../../kube/capture-resource.js';
import { queueError } from './queue-error.js';

export type CaptureRestore = NonNullable<CaptureStatus['restores']>[number];

const ATTEMPTS = 5;

/**
 * Adds a restore to the status of the Capture resource `id` (the one `amber restore` made), read
 * again and written with its resourceVersion, so a status the agent writes meanwhile is kept (a 409
 * reads again). The same restore number twice is written once. Rejects with the queue's codes:
 * CAPTURE_NOT_FOUND when no Capture has the id, KUBE_FORBIDDEN, QUEUE_UNAVAILABLE.
 */
export async function addCaptureRestore(api: CaptureApi, id: string, restore: CaptureRestore): Promise<void> {
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
    const status = (current.status ?? {}) as CaptureStatus;
    const restores = status.restores ?? [];
    if (restores.some((r) => r.number === restore.number)) return;
    try {
      await call('update status', () => api.replaceStatus(current.metadata.name, { ...current, status: { ...status, restores: [...restores, restore] } }));
      return;
    } catch (e) {
      if (!isAmberError(e, 'QUEUE_CONFLICT') || attempt >= ATTEMPTS) throw e;
    }
  }
}
