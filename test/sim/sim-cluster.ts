/**
 * A simulated Kubernetes cluster for amber's tests and `amber demo`: an HTTPS API server and one
 * HTTPS kubelet per node (separate listeners on 127.0.0.1, TLS from a generated CA, bearer-token
 * auth), serving what amber uses and writing honest CRIU checkpoint archives. See README.md.
 *
 * Shipped code: imports only node built-ins, kubernetes-models and tar-stream.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { apiServerHandler } from './api-server.js';
import { captureKey, createCapture, deleteCapture, isApiError } from './capture-store.js';
import { podObject, uuidFrom, type PodRecord, type SimPodSpec } from './k8s-objects.js';
import { hostPid, kubeletHandler } from './kubelet.js';
import { makePki } from './pki.js';
import type { JsonObject } from './object-patch.js';
import { logKey, podKey, type ArchiveSettings, type CheckpointReceipt, type Identity, type SimFaults, type SimNode, type SimState } from './sim-state.js';
import { WatchHub } from './watch-stream.js';

export type { SimContainer, SimEnv, SimPodSpec } from './k8s-objects.js';
export type { ArchiveSettings, CheckpointReceipt, SimFaults } from './sim-state.js';
export type { ApiFault, ApiFaultAnswer } from './api-faults.js';
export { RUNTIME_ERRORS } from './runtime-errors.js';
export { MINER_POOL, MINER_WALLET, REVERSE_SHELL } from './criu-dump.js';
export { CAPTURE } from './capture-store.js';

export interface SimCluster {
  /** https://127.0.0.1:<port> */
  readonly apiUrl: string;
  /** PEM of the sim CA (signs the API server and every kubelet cert) */
  readonly caCert: string;
  readonly caFile: string;
  /** service-account token allowed everything amber needs (pods get/list, pods/log get, nodes get, nodes/checkpoint create) */
  readonly token: string;
  /** authenticates but may do nothing (403 from the API server and the kubelet) */
  readonly forbiddenToken: string;
  /** kubeconfig (server, certificate-authority-data, token user) for @kubernetes/client-node */
  readonly kubeconfigPath: string;
  readonly root: string;
  /** the nodes' local time zone, as given to startSimCluster (default `+02:00`) */
  readonly timeZone: string;
  /** the node's /var/lib/kubelet/checkpoints equivalent (absolute path) */
  checkpointDir(node: string): string;
  /** mutable switches tests flip */
  readonly faults: SimFaults;
  /** every checkpoint request the kubelets received, in order */
  readonly receipts: CheckpointReceipt[];
  /** mutable; pagesBytes default 256 KiB; runtime default 120 */
  archive: ArchiveSettings;
  /** returns the v1 Pod as served */
  addPod(spec: SimPodSpec): object;
  deletePod(namespace: string, name: string): void;
  setLogs(namespace: string, pod: string, container: string, lines: string[]): void;
  /** the kubelet port of a node (also in the Node's status.daemonEndpoints.kubeletEndpoint.Port) */
  kubeletPort(node: string): number;
  /** the kubelet's serving key and cert (signed by the sim CA), for a proxy that stands in for it */
  kubeletTls(node: string): { key: string; cert: string };
  /** makes the Node object advertise another port (a proxy in front of the kubelet); undefined: the real one */
  advertiseKubeletPort(node: string, port: number | undefined): void;
  /** Captures as the API serves them (copies), ordered by namespace then name; all namespaces when none is given */
  captures(namespace?: string): Record<string, any>[];
  /** Pods or NetworkPolicies created through the API (a restore's sandbox), copies, in the order they were created */
  createdObjects(kind: 'Pod' | 'NetworkPolicy'): Record<string, any>[];
  /** events.k8s.io/v1 Events created through the API (copies, in the order they were created); all namespaces when none is given */
  events(namespace?: string): Record<string, any>[];
  /**
   * stores a Capture as a POST would (validated, uid/creationTimestamp/generation/resourceVersion
   * filled in, ADDED event) but keeps `.status` if given; namespace: metadata.namespace or
   * amber-system. Throws with the API's message on a name that exists or an invalid object.
   */
  addCapture(capture: object): Record<string, any>;
  /** as a DELETE request (a DELETED event; with finalizers only a deletionTimestamp); nothing if it does not exist */
  deleteCapture(namespace: string, name: string): void;
  /**
   * forgets every remembered Capture event (as after etcd compaction or an API server restart):
   * a watch from any resourceVersion before now gets 410 Expired
   */
  expireWatchHistory(): void;
  /**
   * ends every open watch stream now: `close` ends the chunked response cleanly (as an API server
   * shutting down), `reset` destroys the connection. Returns how many were open.
   */
  endWatches(how?: 'close' | 'reset'): number;
  /** watch streams currently open */
  openWatches(): number;
  /** stops listeners, removes root (unless started with keepRoot) */
  close(): Promise<void>;
}

export const SA_NAMESPACE = 'amber-system';
export const SA_USER = `system:serviceaccount:${SA_NAMESPACE}:amber`;
export const FORBIDDEN_USER = `system:serviceaccount:${SA_NAMESPACE}:amber-unbound`;

/** A token shaped like a projected service-account JWT (the signature is random: nothing verifies it but the sim). */
function saToken(user: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const [, , ns = '', name = ''] = user.split(':');
  const now = Math.floor(Date.now() / 1000);
  return [
    b64({ alg: 'RS256', kid: randomBytes(16).toString('base64url') }),
    b64({
      aud: ['https://kubernetes.default.svc.cluster.local'],
      exp: now + 3600,
      iat: now,
      iss: 'https://kubernetes.default.svc.cluster.local',
      'kubernetes.io': { namespace: ns, serviceaccount: { name, uid: uuidFrom(user) } },
      nbf: now,
      sub: user,
    }),
    randomBytes(256).toString('base64url'),
  ].join('.');
}

function listen(server: Server, sockets: Set<Socket>, onDown: () => boolean): Promise<number> {
  server.on('connection', (s: Socket) => {
    if (onDown()) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {
    /* a client that gave up: not our problem */
  });
  return new Promise((resolveP, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveP((server.address() as AddressInfo).port));
  });
}

export interface SimClusterOptions {
  nodes?: string[];
  root?: string;
  keepRoot?: boolean;
  /**
   * The nodes' local time zone — `UTC`, a fixed offset `±HH:MM`, or an IANA name. The kubelet
   * names archives in local time (`…T21:18:52+02:00.tar`); the default is not UTC, so that every
   * test meets an offset.
   */
  timeZone?: string;
}

export async function startSimCluster(opts: SimClusterOptions = {}): Promise<SimCluster> {
  const nodeNames = opts.nodes ?? ['node-a'];
  if (nodeNames.length === 0 || new Set(nodeNames).size !== nodeNames.length) throw new Error('sim: node names must be non-empty and distinct');
  const timeZone = opts.timeZone ?? '+02:00';
  if (!/^(UTC|[+-]\d\d:[0-5]\d)$/.test(timeZone)) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      throw new Error(`sim: unknown time zone ${timeZone} (UTC, ±HH:MM or an IANA name)`);
    }
  }
  const root = opts.root ? resolve(opts.root) : mkdtempSync(join(tmpdir(), 'amber-sim-'));
  mkdirSync(root, { recursive: true });
  const pki = makePki(join(root, 'pki'), nodeNames);
  const closing = new AbortController();
  const token = saToken(SA_USER);
  const forbiddenToken = saToken(FORBIDDEN_USER);
  const faults: SimFaults = {
    apiDown: false,
    kubeletDown: false,
    checkpointError: undefined,
    checkpointDelayMs: 0,
    rejectToken: false,
    checkpointFeatureOff: false,
    tcpEstablishedMissing: false,
    watchWindow: 100,
    watchBookmarkMs: 60_000,
    apiFaults: [],
  };
  const startRv = 1000;
  const state: SimState = {
    faults,
    receipts: [],
    archive: { layout: 'containerd', pagesBytes: 256 * 1024, runtimeDefaultTimeoutSeconds: 120 },
    pods: new Map(),
    logs: new Map(),
    nodes: [],
    tokens: new Map<string, Identity>([
      [token, { user: SA_USER, allowed: true }],
      [forbiddenToken, { user: FORBIDDEN_USER, allowed: false }],
    ]),
    resourceVersion: startRv,
    captures: new Map(),
    created: new Map(),
    events: new Map(),
    captureWatch: new WatchHub(
      startRv,
      () => faults.watchWindow,
      () => faults.apiDown,
    ),
    timeZone,
    closing: closing.signal,
  };
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const started = Date.now() - 86_400_000;
  try {
    for (const [index, name] of nodeNames.entries()) {
      const cert = pki.kubelets.get(name);
      if (!cert) throw new Error(`sim: no kubelet cert for ${name}`);
      const checkpointDir = join(root, 'nodes', name, 'var', 'lib', 'kubelet', 'checkpoints');
      mkdirSync(checkpointDir, { recursive: true, mode: 0o700 });
      const node: SimNode = { name, index, kubeletPort: 0, createdAt: started, checkpointDir };
      const server = createServer({ cert: cert.cert, key: cert.key }, kubeletHandler(state, node));
      servers.push(server);
      node.kubeletPort = await listen(server, sockets, () => state.faults.kubeletDown);
      state.nodes.push(node);
    }
    const api = createServer({ cert: pki.apiServer.cert, key: pki.apiServer.key }, apiServerHandler(state));
    servers.push(api);
    const apiPort = await listen(api, sockets, () => state.faults.apiDown);
    const apiUrl = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(root, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: sim',
        '  cluster:',
        `    server: ${apiUrl}`,
        `    certificate-authority-data: ${Buffer.from(pki.caCert).toString('base64')}`,
        'users:',
        '- name: amber',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: sim',
        '  context:',
        '    cluster: sim',
        '    user: amber',
        `    namespace: ${SA_NAMESPACE}`,
        'current-context: sim',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    const nodeOf = (n: string) => {
      const node = state.nodes.find((x) => x.name === n);
      if (!node) throw new Error(`sim: unknown node ${n} (nodes: ${nodeNames.join(', ')})`);
      return node;
    };
    let podSeq = 10;
    let closed = false;
    const cluster: SimCluster = {
      apiUrl,
      caCert: pki.caCert,
      caFile: pki.caFile,
      token,
      forbiddenToken,
      kubeconfigPath,
      root,
      timeZone,
      faults: state.faults,
      receipts: state.receipts,
      get archive() {
        return state.archive;
      },
      set archive(a: ArchiveSettings) {
        state.archive = a;
      },
      checkpointDir: (n) => nodeOf(n).checkpointDir,
      kubeletPort: (n) => nodeOf(n).kubeletPort,
      kubeletTls(n) {
        const cert = pki.kubelets.get(nodeOf(n).name);
        if (!cert) throw new Error(`sim: no kubelet cert for ${n}`);
        return { key: cert.key, cert: cert.cert };
      },
      advertiseKubeletPort(n, port) {
        const node = nodeOf(n);
        if (port === undefined) delete node.advertisedPort;
        else node.advertisedPort = port;
      },
      addPod(spec) {
        const node = nodeOf(spec.node);
        if (state.pods.has(podKey(spec.namespace, spec.name))) throw new Error(`sim: pod ${spec.namespace}/${spec.name} already exists`);
        if (spec.containers.length === 0) throw new Error('sim: a pod needs at least one container');
        const rec: PodRecord = {
          spec: structuredClone(spec),
          uid: randomUUID(),
          createdAt: Date.now() - 3_600_000,
          resourceVersion: String(++state.resourceVersion),
          podIP: `10.244.${node.index + 1}.${(podSeq++ % 250) + 2}`,
          sandboxId: randomBytes(32).toString('hex'),
          containerIds: new Map(spec.containers.map((c) => [c.name, randomBytes(32).toString('hex')])),
          hostPids: new Map(spec.containers.map((c) => [c.name, hostPid()])),
        };
        const served = podObject(rec, state.archive.layout); // validates before anything is stored
        state.pods.set(podKey(spec.namespace, spec.name), rec);
        return served;
      },
      deletePod(ns, name) {
        const rec = state.pods.get(podKey(ns, name));
        if (!rec) return;
        state.pods.delete(podKey(ns, name));
        for (const c of rec.spec.containers) state.logs.delete(logKey(ns, name, c.name));
        state.resourceVersion++;
      },
      setLogs(ns, pod, container, lines) {
        state.logs.set(logKey(ns, pod, container), [...lines]);
      },
      createdObjects(kind) {
        return [...state.created.values()].filter((o) => o['kind'] === kind).map((o) => structuredClone(o));
      },
      events(ns) {
        return [...state.events.entries()].filter(([k]) => ns === undefined || k.startsWith(`${ns}/`)).map(([, o]) => structuredClone(o));
      },
      captures(ns) {
        return [...state.captures.entries()]
          .filter(([k]) => ns === undefined || k.startsWith(`${ns}/`))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([, o]) => structuredClone(o));
      },
      addCapture(capture) {
        const c = structuredClone(capture) as JsonObject;
        const meta = (c.metadata ?? {}) as JsonObject;
        const out = createCapture(state, typeof meta.namespace === 'string' ? meta.namespace : SA_NAMESPACE, c, { keepStatus: true });
        if (isApiError(out)) throw new Error(`sim: addCapture: ${out.body.message ?? ''}`);
        return structuredClone(out.body as JsonObject);
      },
      deleteCapture(ns, name) {
        if (state.captures.has(captureKey(ns, name))) deleteCapture(state, ns, name, Buffer.alloc(0));
      },
      expireWatchHistory: () => state.captureWatch.expire(state.resourceVersion),
      endWatches: (how = 'close') => state.captureWatch.endAll(how),
      openWatches: () => state.captureWatch.open,
      async close() {
        if (closed) return;
        closed = true;
        closing.abort();
        state.captureWatch.endAll('reset');
        const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
        for (const s of sockets) s.destroy();
        await stopped;
        if (!opts.keepRoot) rmSync(root, { recursive: true, force: true });
      },
    };
    return cluster;
  } catch (err) {
    for (const s of servers) s.close();
    for (const s of sockets) s.destroy();
    if (!opts.keepRoot && !opts.root) rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
