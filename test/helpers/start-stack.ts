import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAPTURE_SETTINGS, type CaptureSettings } from '../../src/capture/capture-deps.js';
import { startCaptureWorker, type CaptureWorker } from '../../src/capture/capture-worker.js';
import { createLogger } from '../../src/cli/create-logger.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/evidence/signing-key.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { startServer, type RunningServer } from '../../src/http/start-server.js';
import { tokenAuthenticator } from '../../src/http/token-auth.js';
import { kubeApi, loadKubeConfig } from '../../src/kube/kube-api.js';
import { KubeletClient } from '../../src/kube/kubelet-client.js';
import type { CompiledPolicy } from '../../src/policy/compile-policy.js';
import { loadPolicies, parsePolicies } from '../../src/policy/load-policies.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { FileStore } from '../../src/storage/file-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import { LogSink } from './log-sink.js';
import { makeTestPki, type TestPki } from './make-certs.js';
import { TOKEN } from './start-test-app.js';

export interface Stack {
  readonly sim: SimCluster;
  readonly url: string;
  readonly queue: FileQueue;
  readonly worker: CaptureWorker;
  readonly store: ObjectStore;
  readonly key: SigningKey;
  readonly logs: LogSink;
  /** The metrics both listeners count into. */
  readonly metrics: IntakeMetrics;
  readonly server: RunningServer;
  /** The admission listener (HTTPS, its own port), and the PKI its certificates come from. */
  readonly admission: { readonly url: string; readonly server: RunningServer; readonly pki: TestPki };
  /**
   * POSTs an AdmissionReview to the admission listener, by default as the API server (its client
   * certificate from the trusted CA); `as: 'nobody'` presents none, `as: 'stranger'` one from another CA.
   */
  postReview(body: unknown, opts?: { as?: 'apiserver' | 'nobody' | 'stranger' | 'falco' }): Promise<{ status: number; body: any }>;
  /** Adds a running pod on node-a and returns a Falco alert (terminal shell) for its container. */
  podWithAlert(name?: string): Record<string, any>;
  postFalco(alert: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * amber in one process — intake, journal, worker, real kube client and kubelet client — against
 * the simulated cluster over HTTPS. Everything real but the cluster.
 */
export interface StackAdmission {
  /** Callers need the API server's client certificate (default true). */
  readonly mtls?: boolean;
  readonly clientName?: string;
  readonly allowUnauthenticated?: boolean;
  readonly allowUnauthenticatedHolds?: boolean;
  readonly maxConcurrentHolds?: number;
}

export async function startStack(
  opts: {
    policyYaml?: string;
    kubeletToken?: 'forbidden';
    capture?: Partial<CaptureSettings>;
    store?: { store: ObjectStore; prefix: string };
    admission?: StackAdmission;
  } = {},
): Promise<Stack> {
  const root = await mkdtemp(join(tmpdir(), 'amber-stack-'));
  const sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
  const logs = new LogSink();
  const log = createLogger('debug', logs);
  const policies: CompiledPolicy[] =
    opts.policyYaml !== undefined ? parsePolicies([{ file: 'inline.yaml', text: opts.policyYaml }]) : await loadPolicies('policies');
  const queue = await FileQueue.open({ dir: join(root, 'journal') });
  const { key } = await loadOrCreateSigningKey(join(root, 'signing'));
  const store = opts.store?.store ?? new FileStore(join(root, 'evidence'));
  const kubelet = new KubeletClient({ token: { value: opts.kubeletToken === 'forbidden' ? sim.forbiddenToken : sim.token }, ca: await readFile(sim.caFile) });
  const worker = await startCaptureWorker({
    queue,
    api: kubeApi(loadKubeConfig(sim.kubeconfigPath)),
    kubelet,
    store,
    signingKey: key,
    log,
    settings: {
      ...DEFAULT_CAPTURE_SETTINGS,
      checkpointDir: sim.checkpointDir('node-a'),
      cluster: 'sim',
      minFreeBytes: 0,
      retryBaseMs: 50,
      storePrefix: opts.store?.prefix ?? '',
      ...opts.capture,
    },
    actor: { component: 'agent', node: 'node-a' },
    version: 'test',
  });
  const metrics = new IntakeMetrics();
  const server = await startServer(
    {
      log,
      queue,
      policies,
      auth: tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
      metrics,
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
      jwks: { keys: [key.publicJwk] },
    },
    { listen: '127.0.0.1:0' },
  );
  const pki = makeTestPki();
  const a = opts.admission ?? {};
  const mtls = a.mtls ?? true;
  const allowUnauthenticated = a.allowUnauthenticated ?? false;
  const admission = await startServer(
    {
      log,
      queue,
      policies,
      auth: tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
      metrics,
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
      admission: {
        callers: { mtls, clientName: a.clientName, allowUnauthenticated },
        allowUnauthenticatedHolds: a.allowUnauthenticatedHolds ?? false,
        maxConcurrentHolds: a.maxConcurrentHolds ?? DEFAULT_SETTINGS.admission.maxConcurrentHolds,
      },
    },
    {
      listen: '127.0.0.1:0',
      tls: { cert: pki.serverCert, key: pki.serverKey, ...(mtls ? { clientCA: pki.caCert } : {}), requireClientCert: mtls && !allowUnauthenticated },
    },
  );
  const identities = {
    apiserver: { cert: pki.apiserverCert, key: pki.apiserverKey },
    falco: { cert: pki.clientCert, key: pki.clientKey },
    stranger: { cert: pki.strangerCert, key: pki.strangerKey },
    nobody: undefined,
  };
  let n = 0;
  return {
    admission: { url: admission.url, server: admission, pki },
    metrics,
    postReview(body, { as = 'apiserver' } = {}) {
      const id = identities[as];
      return new Promise((resolve, reject) => {
        const req = request(
          `${admission.url}/v1/admission`,
          {
            method: 'POST',
            ca: pki.read(pki.caCert),
            ...(id ? { cert: pki.read(id.cert), key: pki.read(id.key) } : {}),
            headers: { 'content-type': 'application/json' },
            agent: false,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString();
              let parsed: unknown = text;
              try {
                parsed = JSON.parse(text);
              } catch {
                // not JSON
              }
              resolve({ status: res.statusCode ?? 0, body: parsed });
            });
          },
        );
        req.on('error', reject);
        req.end(typeof body === 'string' ? body : JSON.stringify(body));
      });
    },
    sim,
    url: server.url,
    queue,
    worker,
    store,
    key,
    logs,
    server,
    podWithAlert(name = `web-${++n}`) {
      const pod = sim.addPod({ namespace: 'shop', name, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as any;
      const full = String(pod.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '');
      return {
        time: '2026-11-28T10:00:00.123456789Z',
        rule: 'Terminal shell in container',
        priority: 'Notice',
        source: 'syscall',
        output: 'A shell was spawned in a container with an attached terminal',
        tags: ['container', 'shell', 'mitre_execution'],
        output_fields: {
          'container.id': full.slice(0, 12),
          'container.name': 'app',
          'container.image.repository': 'ghcr.io/acme/app',
          'k8s.ns.name': 'shop',
          'k8s.pod.name': name,
          'proc.name': 'bash',
        },
      };
    },
    async postFalco(alert) {
      const res = await fetch(`${server.url}/v1/alerts/falco`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(alert),
      });
      return { status: res.status, body: await res.json() };
    },
    async close() {
      await Promise.all([server.close(), admission.close()]);
      await worker.stop();
      await kubelet.close();
      await queue.close();
      await sim.close();
      await rm(root, { recursive: true, force: true });
      await rm(pki.dir, { recursive: true, force: true });
    },
  };
}
