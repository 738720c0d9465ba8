import type { Capture } from '../core/capture.js';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { KubeApi } from './kube-api.js';

/**
 * The node a capture must run on: the target pod's `spec.nodeName`, read when the responder takes
 * the alert, so the Capture is labelled for the agent there. A pod that is gone, replaced (another
 * uid) or not scheduled gives a reason instead; the capture is then recorded as failed. An API
 * server that does not answer now (429, 5xx, a lost connection) throws QUEUE_UNAVAILABLE: the
 * intake answers 503 and the sender retries, rather than a capture failed for a passing reason.
 */
export async function placeTarget(api: KubeApi, target: Capture['spec']['target']): Promise<{ node: string } | { reason: string; message: string }> {
  let pod;
  try {
    pod = await api.readPod(target.namespace, target.pod);
  } catch (e) {
    const message = isAmberError(e) ? String(e.details['message'] ?? e.message) : String(e);
    if (isAmberError(e, 'KUBE_API_UNAVAILABLE')) {
      throw new AmberError('QUEUE_UNAVAILABLE', {
        what: `read pod ${target.namespace}/${target.pod}`,
        ...pick(e.details, 'status', 'retryAfterSeconds'),
        message,
      });
    }
    return {
      reason: isAmberError(e, 'KUBE_FORBIDDEN') ? 'KubeForbidden' : 'KubeApiUnavailable',
      message: `could not read pod ${target.namespace}/${target.pod}: ${message}`,
    };
  }
  if (!pod) return { reason: 'PodGone', message: `pod ${target.namespace}/${target.pod} does not exist` };
  if (target.podUID !== undefined && pod.metadata?.uid !== target.podUID) {
    return {
      reason: 'PodReplaced',
      message: `pod ${target.namespace}/${target.pod} has uid ${pod.metadata?.uid ?? '?'}, the alert was about ${target.podUID}`,
    };
  }
  const node = pod.spec?.nodeName;
  if (node === undefined || node === '') return { reason: 'PodNotScheduled', message: `pod ${target.namespace}/${target.pod} has no node` };
  return { node };
}

function pick(details: Readonly<Record<string, unknown>>, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => details[k] !== undefined).map((k) => [k, details[k]]));
}
