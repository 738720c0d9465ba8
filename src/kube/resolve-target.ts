import type { V1ContainerStatus, V1Node, V1Pod } from '@kubernetes/client-node';
import { AmberError } from '../core/amber-error.js';
import type { CaptureSpec } from '../core/capture.js';
import { bareContainerID } from '../core/kube-names.js';
import type { KubeApi } from './kube-api.js';

export interface ResolvedContainer {
  readonly name: string;
  /** Bare id (runtime prefix stripped), 64 hex. */
  readonly containerID: string;
  readonly runtime: string;
  readonly image: string;
  readonly imageID: string;
}

/** Everything the kubelet call and the manifest need, read from the API at capture time. */
export interface ResolvedTarget {
  readonly namespace: string;
  readonly pod: string;
  readonly podUID: string;
  readonly node: string;
  readonly kubelet: { readonly host: string; readonly port: number };
  readonly containers: readonly ResolvedContainer[];
  /** The pod as the API returned it (for pod.json, after redaction). */
  readonly podObject: V1Pod;
}

export const KUBELET_DEFAULT_PORT = 10250;

/**
 * Where to reach the kubelet instead of the Node's addresses: the agent's own node's IP (NODE_IP
 * from the downward API's status.hostIP) or `--kubelet-address HOST[:PORT]`. A missing port is
 * the Node's status.daemonEndpoints.kubeletEndpoint.Port.
 */
export interface KubeletAddress {
  /** Only the pods of this node are reached there (the agent's node); absent: every pod's. */
  readonly node?: string | undefined;
  readonly host: string;
  readonly port?: number | undefined;
}

/**
 * `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT`, or a bare IPv6 address (no port). The settings
 * schema has checked the form; undefined for anything else.
 */
export function parseKubeletAddress(text: string): { host: string; port?: number } | undefined {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([^:[\]\s]+)(?::(\d+))?$/.exec(text);
  const m = bracketed ?? plain;
  if (!m) return /^[0-9a-fA-F]*:[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$/.test(text) ? { host: text } : undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { host: m[1] as string, ...(port === undefined ? {} : { port }) };
}

/**
 * Finds the pod, its node and the container(s) to checkpoint. The container is matched by the
 * alert's container id (Falco's 12-char prefix of the runtime id) first, by name second — names
 * can be reused after a restart, ids cannot. Every failure has a stable code for status.reason.
 */
export async function resolveTarget(api: KubeApi, spec: CaptureSpec, address?: KubeletAddress): Promise<ResolvedTarget> {
  const { namespace, pod: name } = spec.target;
  const pod = await api.readPod(namespace, name);
  if (!pod) throw new AmberError('POD_GONE', { namespace, pod: name });
  const uid = pod.metadata?.uid ?? '';
  if (spec.target.podUID !== undefined && spec.target.podUID !== uid) {
    throw new AmberError('POD_REPLACED', { namespace, pod: name, expected: spec.target.podUID, found: uid });
  }
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) throw new AmberError('POD_NOT_SCHEDULED', { namespace, pod: name });
  const statuses = pod.status?.containerStatuses ?? [];
  const chosen = spec.containers === 'all' ? statuses : [pickContainer(statuses, spec, name)];
  const containers = chosen.map((s) => describeContainer(s, namespace, name));
  const given = address !== undefined && (address.node === undefined || address.node === nodeName) ? address : undefined;
  // host and port given: the Node has nothing more to tell, and its read would only delay the checkpoint
  const found = { namespace, pod: name, podUID: uid, node: nodeName, containers, podObject: pod };
  if (given?.port !== undefined) return { ...found, kubelet: { host: given.host, port: given.port } };
  const node = await api.readNode(nodeName);
  if (!node) throw new AmberError('NODE_ADDRESS_UNKNOWN', { node: nodeName, problem: 'node not found' });
  return { ...found, kubelet: kubeletEndpoint(node, given) };
}

function pickContainer(statuses: readonly V1ContainerStatus[], spec: CaptureSpec, pod: string): V1ContainerStatus {
  const { container, containerID } = spec.target;
  if (containerID !== undefined) {
    const byID = statuses.find((s) => s.containerID !== undefined && bareContainerID(s.containerID).startsWith(containerID));
    if (byID) return byID;
    // The alert's container is gone (restarted or replaced): the one now under that name is not
    // the suspect, so do not fall back to the name.
    const sameName = statuses.find((s) => s.name === container);
    if (sameName && !sameName.state?.running) return sameName; // reported as not running below
    throw new AmberError('CONTAINER_NOT_FOUND', {
      pod,
      container: container ?? null,
      containerID,
      problem: 'no container with this id: restarted or replaced',
    });
  }
  if (container !== undefined) {
    const byName = statuses.find((s) => s.name === container);
    if (byName) return byName;
  }
  if (container === undefined && containerID === undefined) {
    if (statuses.length === 1 && statuses[0]) return statuses[0];
    throw new AmberError('CONTAINER_AMBIGUOUS', { pod, containers: statuses.map((s) => s.name) });
  }
  throw new AmberError('CONTAINER_NOT_FOUND', { pod, container: container ?? null, containerID: containerID ?? null });
}

function describeContainer(s: V1ContainerStatus, namespace: string, pod: string): ResolvedContainer {
  if (!s.state?.running || !s.containerID) {
    const why = s.state?.waiting?.reason ?? s.state?.terminated?.reason ?? 'not running';
    throw new AmberError('CONTAINER_NOT_RUNNING', { namespace, pod, container: s.name, state: why });
  }
  const full = s.containerID;
  return {
    name: s.name,
    containerID: bareContainerID(full),
    runtime: full.includes('://') ? full.slice(0, full.indexOf('://')) : 'unknown',
    image: s.image,
    imageID: s.imageID,
  };
}

/**
 * The kubelet's address: the given host, else the node's InternalIP (else ExternalIP, else
 * Hostname); the given port, else the one the node reports in status.daemonEndpoints (10250
 * unless the kubelet says otherwise).
 */
export function kubeletEndpoint(node: V1Node, given?: { host: string; port?: number | undefined }): { host: string; port: number } {
  const addresses = node.status?.addresses ?? [];
  const host = given?.host ?? ['InternalIP', 'ExternalIP', 'Hostname'].map((type) => addresses.find((a) => a.type === type)?.address).find((a) => a);
  if (!host) throw new AmberError('NODE_ADDRESS_UNKNOWN', { node: node.metadata?.name ?? '?' });
  const port = given?.port ?? node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  return { host, port: typeof port === 'number' && port > 0 ? port : KUBELET_DEFAULT_PORT };
}
