import { createConfiguration, ServerConfiguration, type Configuration, type KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { AmberError } from '../core/amber-error.js';

/**
 * An API client like `kc.makeApiClient(Api)`, except that its requests share one connection pool.
 * The client builds a fresh undici dispatcher for every request, so every call pays a TCP and TLS
 * handshake (5–10 ms of CPU on loopback). On the path from alert to checkpoint that is attacker
 * time, and in an alert storm the responder's CPU goes to handshakes: the Capture queue makes a
 * few calls per alert. The first dispatcher (same cluster, same TLS options) is kept and reused.
 * With `timeoutMs`, each request is aborted when it has not been answered in that long.
 */
export function pooledApiClient<Api>(kc: KubeConfig, Api: new (config: Configuration) => Api, options: { readonly timeoutMs?: number } = {}): Api {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new AmberError('KUBE_CONFIG', { problem: 'no current cluster' });
  let shared: ReturnType<RequestContext['getDispatcher']>;
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (context: RequestContext) => {
          shared ??= context.getDispatcher();
          if (shared !== undefined) context.setDispatcher(shared);
          // a call that must not hang (a notification) is cut after its timeout, and may be retried
          if (options.timeoutMs !== undefined) context.setSignal(AbortSignal.timeout(options.timeoutMs));
          return context;
        },
        post: async (context) => context,
      },
    ],
  });
  return new Api(config);
}
