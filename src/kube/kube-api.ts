import { CoreV1Api, KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AmberError, isAmberError, type ErrorCode } from '../core/amber-error.js';
import { apiFailure } from './api-failure.js';
import { pooledApiClient } from './pooled-api-client.js';

/** The client's configuration, for the folders that hand it on without importing the SDK. */
export type { KubeConfig };

/** The subset of the Kubernetes API that capture needs; tests hand in the real client pointed at the sim. */
export interface KubeApi {
  /** The pod, or undefined when it does not exist (404). */
  readPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  readNode(name: string): Promise<V1Node | undefined>;
  /** The last `tailLines` lines of a container's log. */
  readLogs(namespace: string, pod: string, container: string, tailLines: number): Promise<string>;
}

/** The environment variables that say where a kubeconfig is (the composition root hands them in). */
export interface KubeConfigEnv {
  readonly KUBECONFIG?: string | undefined;
  /** set in every pod: the in-cluster service account is usable */
  readonly KUBERNETES_SERVICE_HOST?: string | undefined;
}

/**
 * Kubeconfig from a file when given (or $KUBECONFIG / ~/.kube/config), else the in-cluster
 * service account. Throws KUBE_CONFIG when neither is usable.
 */
export function loadKubeConfig(file?: string, env: KubeConfigEnv = {}): KubeConfig {
  const kc = new KubeConfig();
  const home = join(homedir(), '.kube', 'config');
  try {
    if (file !== undefined) kc.loadFromFile(file);
    else if (env.KUBECONFIG || existsSync(home)) kc.loadFromDefault();
    else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    // the client would otherwise invent http://localhost:8080, which is never what anyone means
    else throw new Error('no --kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster service account');
  } catch (cause) {
    throw new AmberError('KUBE_CONFIG', { file: file ?? 'default' }, { cause });
  }
  if (!kc.getCurrentCluster()) throw new AmberError('KUBE_CONFIG', { file: file ?? 'default', problem: 'no current cluster' });
  return kc;
}

export function kubeApi(kc: KubeConfig): KubeApi {
  const core = pooledApiClient(kc, CoreV1Api);
  const call = async <T>(what: string, fn: () => Promise<T>, notFound: ErrorCode = 'POD_GONE'): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      throw toAmberError(e, what, notFound);
    }
  };
  // A node's address and kubelet port hardly ever change; one read a minute is plenty.
  const nodes = new Map<string, { node: V1Node; at: number }>();
  return {
    readPod: (namespace, name) => call(`pod ${namespace}/${name}`, () => core.readNamespacedPod({ namespace, name })).catch(notFoundAsUndefined('POD_GONE')),
    readNode: async (name) => {
      const cached = nodes.get(name);
      if (cached && Date.now() - cached.at < 60_000) return cached.node;
      const node = await call(`node ${name}`, () => core.readNode({ name }), 'NODE_NOT_FOUND').catch(notFoundAsUndefined('NODE_NOT_FOUND'));
      if (node) nodes.set(name, { node, at: Date.now() });
      return node;
    },
    readLogs: async (namespace, pod, container, tailLines) =>
      (await call(`logs of ${namespace}/${pod}/${container}`, () => core.readNamespacedPodLog({ namespace, name: pod, container, tailLines }))) ?? '',
  };
}

/** A read whose 404 (`code`) means "there is none". */
function notFoundAsUndefined(code: ErrorCode): (e: unknown) => undefined {
  return (e) => {
    if (isAmberError(e, code)) return undefined;
    throw e;
  };
}

/**
 * The AmberError for a failed read. 404 becomes `notFound` (POD_GONE for a pod and its logs,
 * NODE_NOT_FOUND for a node); 429, 5xx and lost connections become KUBE_API_UNAVAILABLE,
 * which a capture retries; the details carry the status, the server's message and Retry-After,
 * never client-node's error, whose message holds the whole body and headers.
 */
function toAmberError(e: unknown, what: string, notFound: ErrorCode): AmberError {
  const f = apiFailure(e);
  const details = {
    what,
    ...(f.status !== undefined ? { status: f.status } : {}),
    message: f.message,
    ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}),
  };
  if (f.status === 404) return new AmberError(notFound, details);
  if (f.status === 401 || f.status === 403) return new AmberError('KUBE_FORBIDDEN', details);
  return new AmberError('KUBE_API_UNAVAILABLE', details);
}
