import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeletClientOptions } from './kubelet-client.js';

/** Where a pod finds its service account's token (projected, rotated: re-read on every call). */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** What the settings say about reaching kubelets (each absent: the default below). */
export interface KubeletCredentialSettings {
  /** PEM file of the CA that signed the kubelets' serving certificates. */
  readonly ca?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly insecureSkipTLSVerify: boolean;
}

/** The in-cluster defaults: the service account's token file. */
export interface InClusterDefaults {
  readonly tokenFile: string;
}

/**
 * The kubelet client's credentials. CA: the given file, else the cluster's CA from the kubeconfig
 * (inline or a file) — a kubelet's serving certificate is usually signed by it — else none (the
 * system roots). Token: the given file, else the kubeconfig user's token, else the service
 * account's token file (in a pod the kubeconfig has none: it is projected and rotates).
 */
export async function kubeletCredentials(
  kc: KubeConfig,
  settings: KubeletCredentialSettings,
  inCluster: InClusterDefaults = { tokenFile: SERVICE_ACCOUNT_TOKEN },
): Promise<Pick<KubeletClientOptions, 'token' | 'ca' | 'insecureSkipTLSVerify'>> {
  const cluster = kc.getCurrentCluster();
  const ca =
    settings.ca !== undefined
      ? await readFile(settings.ca)
      : cluster?.caData
        ? Buffer.from(cluster.caData, 'base64')
        : cluster?.caFile
          ? await readFile(cluster.caFile)
          : undefined;
  const userToken = kc.getCurrentUser()?.token;
  const token = settings.tokenFile !== undefined ? { file: settings.tokenFile } : userToken ? { value: userToken } : { file: inCluster.tokenFile };
  return { token, ca, insecureSkipTLSVerify: settings.insecureSkipTLSVerify };
}
