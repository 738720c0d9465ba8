import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { CAPTURE_GROUP, CAPTURE_PLURAL, CAPTURE_VERSION, type CaptureResource } from './capture-resource.js';
import { pooledApiClient } from './pooled-api-client.js';
import { watchOnce, type WatchHandlers } from './watch-once.js';

/** A list of Capture resources as the API server answers it. */
export interface CaptureList {
  readonly items?: unknown[];
  readonly metadata?: { readonly resourceVersion?: string };
}

/**
 * The Capture resources of one namespace, as the API server serves them: the calls the queue
 * makes, and nothing of the client library in their types. A failed call rejects with the
 * client's own error; the queue reads it (queue/kube/queue-error.ts).
 */
export interface CaptureApi {
  get(name: string): Promise<CaptureResource>;
  create(body: CaptureResource): Promise<CaptureResource>;
  /** PUT of the resource (spec, labels, annotations); 409 when `body`'s resourceVersion is stale. */
  replace(name: string, body: CaptureResource): Promise<CaptureResource>;
  /** PUT of the status subresource. */
  replaceStatus(name: string, body: CaptureResource): Promise<CaptureResource>;
  list(options?: { readonly labelSelector?: string | undefined; readonly limit?: number }): Promise<CaptureList>;
  /** One watch from `from.resourceVersion` until it ends (see watchOnce). */
  watch(from: { labelSelector: string | undefined; resourceVersion: string | undefined }, on: WatchHandlers): ReturnType<typeof watchOnce>;
}

export function captureApi(kc: KubeConfig, namespace: string): CaptureApi {
  const api = pooledApiClient(kc, CustomObjectsApi);
  const base = { group: CAPTURE_GROUP, version: CAPTURE_VERSION, namespace, plural: CAPTURE_PLURAL };
  const path = `/apis/${CAPTURE_GROUP}/${CAPTURE_VERSION}/namespaces/${namespace}/${CAPTURE_PLURAL}`;
  return {
    get: async (name) => (await api.getNamespacedCustomObject({ ...base, name })) as CaptureResource,
    create: async (body) => (await api.createNamespacedCustomObject({ ...base, body })) as CaptureResource,
    replace: async (name, body) => (await api.replaceNamespacedCustomObject({ ...base, name, body })) as CaptureResource,
    replaceStatus: async (name, body) => (await api.replaceNamespacedCustomObjectStatus({ ...base, name, body })) as CaptureResource,
    list: async (options = {}) =>
      (await api.listNamespacedCustomObject({
        ...base,
        ...(options.labelSelector !== undefined && options.labelSelector !== '' ? { labelSelector: options.labelSelector } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
      })) as CaptureList,
    watch: (from, on) => watchOnce(new Watch(kc), path, from, on),
  };
}
