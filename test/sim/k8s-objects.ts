/**
 * The Kubernetes objects the simulated API server serves: Pod, PodList, Node, NodeList and
 * metav1.Status errors. Every object is checked with kubernetes-models' JSON-schema validation
 * before it is served; a failure throws (a sim that drifts from the real API is a bug, loudly).
 */
import { createHash } from 'node:crypto';
import { Pod, type IPod } from 'kubernetes-models/v1/Pod';
import { PodList, type IPodList } from 'kubernetes-models/v1/PodList';
import { Node, type INode } from 'kubernetes-models/v1/Node';
import { NodeList, type INodeList } from 'kubernetes-models/v1/NodeList';
import { Status, type IStatus } from '@kubernetes-models/apimachinery/apis/meta/v1/Status';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IContainerStatus } from 'kubernetes-models/v1/ContainerStatus';
import type { RuntimeLayout } from './runtime-metadata.js';

export interface SimContainer {
  name: string;
  image: string;
  running?: boolean;
  /** The pod spec's `command` (default: the image's entrypoint, /bin/sh /app/entrypoint.sh): pid 1's argv. */
  command?: string[];
  /** Files the container wrote (its rw layer): they are in the checkpoint's rootfs-diff.tar. */
  writes?: { path: string; body: string }[];
}
export interface SimEnv {
  container: string;
  name: string;
  value?: string;
  secretKeyRef?: { name: string; key: string };
}
export interface SimPodSpec {
  namespace: string;
  name: string;
  node: string;
  containers: SimContainer[];
  env?: SimEnv[];
}

/** What the sim remembers about a pod beyond its spec. */
export interface PodRecord {
  spec: SimPodSpec;
  uid: string;
  createdAt: number;
  resourceVersion: string;
  podIP: string;
  sandboxId: string;
  /** container name → 64 hex runtime id */
  containerIds: Map<string, string>;
  hostPids: Map<string, number>;
}

export const KUBELET_VERSION = 'v1.31.4';
export const RUNTIME_VERSION: Record<RuntimeLayout, string> = { containerd: 'containerd://2.0.2', crio: 'cri-o://1.31.3' };
export const RUNTIME_PREFIX: Record<RuntimeLayout, string> = { containerd: 'containerd://', crio: 'cri-o://' };

export const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function check<T>(kind: string, obj: T, validate: () => void): T {
  try {
    validate();
  } catch (err) {
    throw new Error(`sim: the ${kind} it was about to serve fails kubernetes-models validation: ${(err as Error).message}\n${JSON.stringify(obj)}`);
  }
  return obj;
}

/** `ghcr.io/acme/app:1.4` → repository `ghcr.io/acme/app` (digest is a stable function of the image). */
export function imageDigestRef(image: string): { ref: string; configId: string } {
  const at = image.indexOf('@');
  const repo = at >= 0 ? image.slice(0, at) : image.replace(/:[^:/]+$/, '');
  const digest = at >= 0 ? image.slice(at + 1) : `sha256:${sha256hex(`manifest:${image}`)}`;
  return { ref: `${repo}@${digest}`, configId: sha256hex(`config:${image}`) };
}

function ownerOf(name: string): { app: string; hash?: string } {
  const m = /^(.+)-([a-z0-9]{8,10})-([a-z0-9]{5})$/.exec(name);
  return m && m[1] && m[2] ? { app: m[1], hash: m[2] } : { app: name };
}

export function podObject(rec: PodRecord, layout: RuntimeLayout): IPod {
  const { spec } = rec;
  const owner = ownerOf(spec.name);
  const started = rec.createdAt + 2000;
  const apiVol = `kube-api-access-${sha256hex(rec.uid).slice(0, 5)}`;
  const containers: IContainer[] = spec.containers.map((c) => {
    const env = (spec.env ?? [])
      .filter((e) => e.container === c.name)
      .map((e) =>
        e.secretKeyRef
          ? { name: e.name, valueFrom: { secretKeyRef: { name: e.secretKeyRef.name, key: e.secretKeyRef.key } } }
          : { name: e.name, value: e.value ?? '' },
      );
    return {
      name: c.name,
      image: c.image,
      imagePullPolicy: 'IfNotPresent',
      ...(c.command ? { command: c.command } : {}),
      ...(env.length ? { env } : {}),
      resources: {},
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      volumeMounts: [{ name: apiVol, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    };
  });
  const statuses: IContainerStatus[] = spec.containers.map((c) => {
    const id = `${RUNTIME_PREFIX[layout]}${rec.containerIds.get(c.name)}`;
    const common = { name: c.name, image: c.image, imageID: imageDigestRef(c.image).ref, containerID: id };
    if (c.running !== false) {
      return { ...common, state: { running: { startedAt: iso(started) } }, lastState: {}, ready: true, restartCount: 0, started: true };
    }
    return {
      ...common,
      ready: false,
      restartCount: 5,
      started: false,
      state: {
        waiting: { reason: 'CrashLoopBackOff', message: `back-off 5m0s restarting failed container=${c.name} pod=${spec.name}_${spec.namespace}(${rec.uid})` },
      },
      lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: iso(started + 60_000), finishedAt: iso(started + 61_000), containerID: id } },
    };
  });
  const notReady = spec.containers.filter((c) => c.running === false).map((c) => c.name);
  const readyCond = (type: string) =>
    notReady.length
      ? {
          type,
          status: 'False',
          lastTransitionTime: iso(started + 61_000),
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${notReady.join(' ')}]`,
        }
      : { type, status: 'True', lastTransitionTime: iso(started) };
  const pod: IPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      uid: rec.uid,
      resourceVersion: rec.resourceVersion,
      creationTimestamp: iso(rec.createdAt),
      generateName: owner.hash ? `${owner.app}-${owner.hash}-` : undefined,
      labels: owner.hash ? { app: owner.app, 'pod-template-hash': owner.hash } : { app: owner.app },
      ownerReferences: owner.hash
        ? [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: `${owner.app}-${owner.hash}`,
              uid: uuidFrom(`rs:${spec.namespace}/${owner.app}-${owner.hash}`),
              controller: true,
              blockOwnerDeletion: true,
            },
          ]
        : undefined,
    },
    spec: {
      containers,
      nodeName: spec.node,
      serviceAccountName: 'default',
      serviceAccount: 'default',
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      securityContext: {},
      terminationGracePeriodSeconds: 30,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      volumes: [
        {
          name: apiVol,
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
      ],
    },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: iso(started) },
        { type: 'Initialized', status: 'True', lastTransitionTime: iso(rec.createdAt) },
        readyCond('Ready'),
        readyCond('ContainersReady'),
        { type: 'PodScheduled', status: 'True', lastTransitionTime: iso(rec.createdAt) },
      ],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: rec.podIP,
      podIPs: [{ ip: rec.podIP }],
      startTime: iso(rec.createdAt),
      containerStatuses: statuses,
      qosClass: 'BestEffort',
    },
  };
  const clean = JSON.parse(JSON.stringify(pod)) as IPod; // drops undefined, like encoding/json omitempty
  return check('Pod', clean, () => new Pod(clean).validate());
}

/**
 * List items are served without kind/apiVersion, as the API server does. kubernetes-models' list
 * schemas reuse the item schema (which requires both), so lists are validated with them put back.
 */
function withoutKind<T extends { kind?: string; apiVersion?: string }>(o: T): T {
  const { kind: _k, apiVersion: _a, ...rest } = o;
  return rest as T;
}

export function podListObject(items: IPod[], resourceVersion: string): IPodList {
  const list: IPodList = { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion }, items };
  check('PodList', list, () => new PodList(list).validate());
  return { ...list, items: items.map(withoutKind) };
}

export function nodeObject(name: string, index: number, kubeletPort: number, layout: RuntimeLayout, createdAt: number, resourceVersion: string): INode {
  const h = sha256hex(`node:${name}`);
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: iso(Date.now()),
    lastTransitionTime: iso(createdAt),
  });
  const capacity = { cpu: '2', 'ephemeral-storage': '101430960Ki', 'hugepages-2Mi': '0', memory: '24558332Ki', pods: '110' };
  const node: INode = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: uuidFrom(`node:${name}`),
      resourceVersion,
      creationTimestamp: iso(createdAt),
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: { podCIDR: `10.244.${index + 1}.0/24`, podCIDRs: [`10.244.${index + 1}.0/24`] },
    status: {
      capacity,
      allocatable: { ...capacity, memory: '24455932Ki' },
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
      nodeInfo: {
        machineID: h.slice(0, 32),
        systemUUID: uuidFrom(`sys:${name}`),
        bootID: uuidFrom(`boot:${name}:${createdAt}`),
        kernelVersion: '6.8.0-49-generic',
        osImage: 'Ubuntu 24.04.1 LTS',
        containerRuntimeVersion: RUNTIME_VERSION[layout],
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: KUBELET_VERSION,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
  return check('Node', node, () => new Node(node).validate());
}

export function nodeListObject(items: INode[], resourceVersion: string): INodeList {
  const list: INodeList = { apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion }, items };
  check('NodeList', list, () => new NodeList(list).validate());
  return { ...list, items: items.map(withoutKind) };
}

/** metav1.StatusDetails (field order of the Go struct). */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

/** metav1.Status as apimachinery's StatusError writes it (field order of the Go struct). */
export function statusObject(code: number, reason: string, message: string, details?: StatusDetails): IStatus {
  const s: IStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    ...(reason ? { reason } : {}),
    ...(details ? { details: JSON.parse(JSON.stringify(details)) as StatusDetails } : {}),
    code,
  };
  return check('Status', s, () => new Status(s).validate());
}

/** The Status a successful DELETE answers when the registry does not return the object (custom resources). */
export function successStatus(details: StatusDetails): IStatus {
  const s: IStatus = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: JSON.parse(JSON.stringify(details)) as StatusDetails };
  return check('Status', s, () => new Status(s).validate());
}

/** A deterministic RFC 4122 version-4-shaped UUID. */
export function uuidFrom(seed: string): string {
  const h = sha256hex(seed);
  const variant = ((parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
