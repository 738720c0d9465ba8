import { CoreV1Api, NetworkingV1Api, type KubeConfig, type V1NetworkPolicy, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmberError } from '../core/amber-error.js';
import { apiFailure } from './api-failure.js';
import { pooledApiClient } from './pooled-api-client.js';

/** The calls a restore makes to put a sandbox into a namespace. */
export interface SandboxApi {
  /** Creates the NetworkPolicy, then the Pod. `exists` when a pod of that name is already there (the caller takes the next number). */
  create(namespace: string, objects: { pod: Record<string, unknown>; networkPolicy: Record<string, unknown> }): Promise<'created' | 'exists'>;
  /** The names of the pods in `namespace` whose labels match `labelSelector`. */
  podNames(namespace: string, labelSelector: string): Promise<string[]>;
}

const ATTEMPTS = 6;

/**
 * The sandbox through the API server. The NetworkPolicy is created first: the pod is never
 * unfenced, not for a moment. A 409 on the policy is a policy left by an earlier attempt whose pod
 * never came (its name is the pod's): it is kept and the pod created. 429, 5xx and lost
 * connections are retried with backoff (Retry-After honoured); 401/403 are KUBE_FORBIDDEN, 422
 * is RESTORE_REFUSED with the server's message.
 */
export function sandboxApi(kc: KubeConfig, backoffMs = 500): SandboxApi {
  const core = pooledApiClient(kc, CoreV1Api);
  const networking = pooledApiClient(kc, NetworkingV1Api);
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T | 'exists'> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const f = apiFailure(e);
        const details = { what, ...(f.status !== undefined ? { status: f.status } : {}), message: f.message };
        if (f.status === 409) return 'exists';
        if (f.status === 401 || f.status === 403) throw new AmberError('KUBE_FORBIDDEN', details);
        if (f.status !== undefined && f.status >= 400 && f.status < 500 && f.status !== 429)
          throw new AmberError('RESTORE_REFUSED', { ...details, problem: f.message });
        if (attempt >= ATTEMPTS) throw new AmberError('KUBE_API_UNAVAILABLE', details);
        await sleep(f.retryAfterSeconds !== undefined ? Math.min(f.retryAfterSeconds, 30) * 1000 : backoffMs * 2 ** (attempt - 1));
      }
    }
  };
  return {
    async create(namespace, { pod, networkPolicy }) {
      // the fence first: a pod without its policy would be reachable
      await call(`networkpolicy in ${namespace}`, () => networking.createNamespacedNetworkPolicy({ namespace, body: networkPolicy as V1NetworkPolicy }));
      const made = await call(`pod in ${namespace}`, () => core.createNamespacedPod({ namespace, body: pod as V1Pod }));
      return made === 'exists' ? 'exists' : 'created';
    },
    async podNames(namespace, labelSelector) {
      const list = await call(`pods in ${namespace}`, () => core.listNamespacedPod({ namespace, labelSelector }));
      if (list === 'exists') return [];
      return list.items.map((p) => p.metadata?.name ?? '').filter((n) => n !== '');
    },
  };
}
