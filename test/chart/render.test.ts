// The chart as rendered (one process for all of it: a tap process costs seconds of start-up).
// 1. Every variant renders and every object passes the Kubernetes schema of its kind
//    (kubernetes-models); what each variant is for: the right Secrets, env, mounts and objects.
// 2. The admission webhook: what the API server sends amber, how it fails, and that the API server
//    can trust the responder's certificate in each TLS mode.
// 3. Restrictive security contexts: no capability, no escalation, read-only root, RuntimeDefault
//    seccomp everywhere; the responder never runs as root; the agent runs as uid 0 only because the
//    kubelet's archives are root:root 0600, and only while agent.runAsRoot says so.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { loadSigningKey } from '../../src/evidence/signing-key.js';
import {
  agentName,
  env,
  find,
  NAMESPACE,
  one,
  podSpec,
  render,
  responderName,
  template,
  VARIANTS,
  WEBHOOK,
  type Container,
  type K8sObject,
  type PodSpec,
} from './chart.js';

type ModelClass = new (data: never) => { validate(): void };

const MODELS: Record<string, ModelClass> = {
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': ValidatingWebhookConfiguration,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
};

/** Custom resources of other projects: kubernetes-models has no schema for them. */
const NO_MODEL = new Set(['monitoring.coreos.com/v1/ServiceMonitor', 'cert-manager.io/v1/Issuer', 'cert-manager.io/v1/Certificate']);

const rendered = new Map<string, K8sObject[]>();
for (const [name, values] of Object.entries(VARIANTS)) rendered.set(name, render(values));
const variant = (name: string): K8sObject[] => {
  const objects = rendered.get(name);
  if (!objects) throw new Error(`no variant ${name}`);
  return objects;
};

const container = (objects: readonly K8sObject[], kind: 'Deployment' | 'DaemonSet'): Container => {
  const c = podSpec(one(objects, kind)).containers[0];
  if (!c) throw new Error(`${kind} has no container`);
  return c;
};

t.test('every rendered object passes the Kubernetes schema of its kind', async (t) => {
  for (const [name, objects] of rendered) {
    const problems: string[] = [];
    for (const o of objects) {
      const key = `${o.apiVersion}/${o.kind}`;
      if (NO_MODEL.has(key)) {
        if (typeof o.metadata?.name !== 'string' || typeof o['spec'] !== 'object') problems.push(`${key}: no metadata.name or spec`);
        continue;
      }
      const Model = MODELS[key];
      if (!Model) {
        problems.push(`${key} ${o.metadata.name}: no kubernetes-models class listed in this test`);
        continue;
      }
      try {
        new Model(o as never).validate();
      } catch (e) {
        problems.push(`${key} ${o.metadata.name}: ${(e as Error).message}`);
      }
    }
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration', 'CustomResourceDefinition']);
    for (const o of objects) {
      if (!clusterScoped.has(o.kind) && o.metadata.namespace !== NAMESPACE) problems.push(`${o.kind} ${o.metadata.name}: not in the release namespace`);
    }
    const names = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    for (const [i, n] of names.entries()) if (names.indexOf(n) !== i) problems.push(`${n}: rendered twice`);
    t.same(problems, [], `${name}: ${objects.length} objects valid, namespaced in the release namespace, unique`);
  }
});

t.test('defaults: responder Deployment, agent DaemonSet, CRD, Secrets generated once', async (t) => {
  const objects = variant('defaults');
  const kinds = objects.map((o) => o.kind).sort();
  t.ok(kinds.includes('CustomResourceDefinition'), 'the CRD comes with --include-crds');
  t.equal(one(objects, 'CustomResourceDefinition').metadata.name, 'captures.forensics.amber.dev');
  const deployment = one(objects, 'Deployment', responderName);
  t.equal((deployment['spec'] as { replicas: number }).replicas, 2);
  t.match(one(objects, 'PodDisruptionBudget', responderName)['spec'], { minAvailable: 1 });
  t.match(one(objects, 'Service', responderName)['spec'], { ports: [{ port: 443, targetPort: 'https' }] });
  t.match(podSpec(deployment).affinity, {
    podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] },
  });

  const responder = container(objects, 'Deployment');
  t.same(responder.args, ['responder', '--listen', '0.0.0.0:8443', '--tls-cert', '/etc/amber/tls/tls.crt', '--tls-key', '/etc/amber/tls/tls.key']);
  t.match(responder.livenessProbe, { httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' } });
  t.match(responder.readinessProbe, { httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' } });
  t.same(responder.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
  const agent = container(objects, 'DaemonSet');
  t.same(agent.args, ['agent', '--listen', '0.0.0.0:9090']);
  t.match(agent.livenessProbe, { httpGet: { path: '/healthz', port: 'metrics' } });
  t.match(agent.readinessProbe, { httpGet: { path: '/readyz', port: 'metrics' } });

  for (const c of [responder, agent]) {
    t.equal(env(c, 'AMBER_STORE'), 's3://amber-evidence-example/cluster-a', `${c.name}: store`);
    t.equal(env(c, 'AMBER_CLUSTER'), 'default');
    t.equal(env(c, 'AMBER_LOG_LEVEL'), 'info');
    t.equal(env(c, 'AMBER_POLICIES'), '/etc/amber/policies');
    t.equal(env(c, 'AMBER_DATA_DIR'), '/var/lib/amber');
    t.same(env(c, 'NODE_NAME'), { fieldRef: { fieldPath: 'spec.nodeName' } });
    t.same(env(c, 'NODE_IP'), { fieldRef: { fieldPath: 'status.hostIP' } });
    t.same(env(c, 'POD_NAME'), { fieldRef: { fieldPath: 'metadata.name' } });
    t.same(env(c, 'POD_NAMESPACE'), { fieldRef: { fieldPath: 'metadata.namespace' } });
    t.equal(env(c, 'AWS_ACCESS_KEY_ID'), undefined, `${c.name}: no static S3 credentials by default`);
    const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    for (const path of ['/etc/amber/policies', '/var/lib/amber', '/tmp']) t.ok(mounts[path], `${c.name}: ${path} mounted`);
  }
  t.equal(env(agent, 'AMBER_SIGNING_KEY'), '/etc/amber/signing/signing-key');
  t.ok(
    agent.volumeMounts?.some((m) => m.mountPath === '/etc/amber/signing'),
    'the agent signs',
  );
  t.equal(env(responder, 'AMBER_SIGNING_KEY'), undefined, 'the responder never signs: no key');
  t.notOk(
    responder.volumeMounts?.some((m) => m.name === 'signing-key'),
    'the serving container never mounts the private key',
  );
  const publicKeys = (podSpec(one(objects, 'Deployment')) as unknown as { initContainers?: Container[] }).initContainers?.find((c) => c.name === 'public-keys');
  t.same(
    publicKeys?.args,
    ['jwks', '--signing-key', '/etc/amber/signing/signing-key', '--out', '/var/run/amber/jwks/jwks.json'],
    'an init container prints the public keys',
  );
  t.ok(
    publicKeys?.volumeMounts?.some((m) => m.name === 'public-keys' && !m.readOnly),
    'into a shared emptyDir',
  );
  t.equal(env(responder, 'AMBER_JWKS_FILE'), '/var/run/amber/jwks/jwks.json', 'which the responder publishes');
  t.ok(responder.volumeMounts?.some((m) => m.name === 'public-keys' && m.readOnly === true));
  t.equal(env(responder, 'AMBER_S3_SSE'), 'none', 'S3 settings, only to read bundles for the evidence browser (ui.readEvidence)');
  t.equal(env(responder, 'AMBER_AUTH_TOKENS_FILE'), '/etc/amber/auth/tokens');
  t.equal(env(agent, 'AMBER_AUTH_TOKENS_FILE'), undefined, 'the agent takes no alerts and gets no tokens');
  t.equal(env(agent, 'AMBER_CHECKPOINT_DIR'), '/var/lib/kubelet/checkpoints');
  t.equal(env(agent, 'AMBER_KUBELET_CA'), undefined, 'no kubelet CA given: the cluster CA');

  const ds = podSpec(one(objects, 'DaemonSet', agentName));
  t.same(ds.tolerations, [{ operator: 'Exists' }], 'the agent runs on every node, tainted or not');
  t.match(
    ds.volumes?.find((v) => v.name === 'checkpoints'),
    { hostPath: { path: '/var/lib/kubelet/checkpoints', type: 'DirectoryOrCreate' } },
  );
  t.match(
    agent.volumeMounts?.find((m) => m.name === 'checkpoints'),
    { mountPath: '/var/lib/kubelet/checkpoints', readOnly: false },
  );
  t.match(
    ds.volumes?.find((v) => v.name === 'data'),
    { emptyDir: {} },
  );
  t.notOk(ds.priorityClassName, 'no priority class unless asked');

  const signing = one(objects, 'Secret', 'amber-signing-key');
  t.equal(signing.metadata.annotations?.['helm.sh/resource-policy'], 'keep', 'the signing key outlives an uninstall');
  const tokens = Buffer.from((one(objects, 'Secret', 'amber-auth')['data'] as Record<string, string>)['tokens'] ?? '', 'base64').toString();
  t.match(tokens, /^[A-Za-z0-9]{48}\n$/, 'one generated bearer token');
  t.equal(find(objects, 'Secret', 'amber-s3').length, 0, 'no S3 Secret without credentials');
  t.equal(find(objects, 'ServiceMonitor').length, 0, 'the ServiceMonitor is opt-in');
  t.same(
    find(objects, 'NetworkPolicy')
      .map((p) => p.metadata.name)
      .sort(),
    [agentName, responderName],
    'the NetworkPolicies are on (test/chart/networkpolicy.test.ts holds what they admit)',
  );
  t.equal(find(objects, 'ConfigMap', 'amber-config').length, 0, 'no config file unless config is set');
  t.equal(find(objects, 'ValidatingWebhookConfiguration').length, 0, 'the webhook is off until the operator says how its caller is known');
  t.notOk(env(responder, 'AMBER_ADMISSION_MAX_HOLDS'), 'and no admission listener');
});

t.test('the generated signing key is one amber loads (Ed25519 PKCS#8)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-chart-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of ['defaults', 'static S3 credentials from values']) {
    const data = one(variant(name), 'Secret', 'amber-signing-key')['data'] as Record<string, string>;
    const file = join(dir, `${name}.pem`);
    await writeFile(file, Buffer.from(data['signing-key'] ?? '', 'base64'));
    const key = await loadSigningKey(file);
    t.equal(key.alg, 'EdDSA', `${name}: EdDSA`);
  }
});

t.test('existing Secrets are referenced, not created', async (t) => {
  const objects = variant('existing secrets');
  t.same(
    find(objects, 'Secret').map((s) => s.metadata.name),
    [],
    'the chart creates no Secret at all',
  );
  const volumes = podSpec(one(objects, 'Deployment')).volumes ?? [];
  t.match(
    podSpec(one(objects, 'DaemonSet')).volumes?.find((v) => v.name === 'signing-key'),
    { secret: { secretName: 'evidence-signer', items: [{ key: 'key.pem', path: 'signing-key' }] } },
  );
  t.match(
    volumes.find((v) => v.name === 'auth'),
    { secret: { secretName: 'intake-tokens', items: [{ key: 'tokens.txt', path: 'tokens' }] } },
  );
  t.match(
    volumes.find((v) => v.name === 'tls'),
    { secret: { secretName: 'amber-serving' } },
  );
  const agent = container(objects, 'DaemonSet');
  t.same(env(agent, 'AWS_ACCESS_KEY_ID'), { secretKeyRef: { name: 'rgw-user', key: 'access' } }, 'the access key from the existing Secret');
  t.same(env(agent, 'AWS_SECRET_ACCESS_KEY'), { secretKeyRef: { name: 'rgw-user', key: 'secret' } });
  t.equal(env(agent, 'AMBER_S3_ENDPOINT'), 'https://rgw.example.com');
  t.equal(env(agent, 'AMBER_S3_FORCE_PATH_STYLE'), 'true');
  t.same(
    env(container(objects, 'Deployment'), 'AWS_ACCESS_KEY_ID'),
    { secretKeyRef: { name: 'rgw-user', key: 'access' } },
    'the responder reads the store for the evidence browser',
  );
  t.match(
    volumes.find((v) => v.name === 'ui-session'),
    { secret: { secretName: 'amber-sessions', items: [{ key: 'key', path: 'session-key' }] } },
  );
  t.match(one(objects, 'ValidatingWebhookConfiguration')['webhooks'], [{ clientConfig: { caBundle: 'Zm9v' } }]);
});

t.test('the evidence browser: one generated session key for every replica, the store read with the S3 settings; off when told', async (t) => {
  const objects = variant('defaults');
  const key = Buffer.from((one(objects, 'Secret', 'amber-ui-session')['data'] as Record<string, string>)['session-key'] ?? '', 'base64');
  t.ok(key.length >= 32, 'at least the 32 bytes amber requires');
  const responder = container(objects, 'Deployment');
  t.equal(env(responder, 'AMBER_UI_SESSION_KEY_FILE'), '/etc/amber/ui/session-key');
  t.match(
    responder.volumeMounts?.find((m) => m.name === 'ui-session'),
    { mountPath: '/etc/amber/ui', readOnly: true },
  );
  t.match(
    podSpec(one(objects, 'Deployment')).volumes?.find((v) => v.name === 'ui-session'),
    {
      secret: { secretName: 'amber-ui-session', items: [{ key: 'session-key', path: 'session-key' }] },
    },
  );
  t.equal(env(responder, 'AMBER_S3_FORCE_PATH_STYLE'), 'false', 'the S3 settings, to read sealed bundles');
  t.equal(env(responder, 'AMBER_SIGNING_KEY'), undefined, 'but never the signing key');

  const off = variant('evidence browser off');
  t.equal(env(container(off, 'Deployment'), 'AMBER_UI'), 'false');
  t.equal(find(off, 'Secret', 'amber-ui-session').length, 0);
  t.equal(env(container(off, 'Deployment'), 'AMBER_S3_FORCE_PATH_STYLE'), undefined, 'and no store settings');
  const blind = container(variant('evidence browser without reading the store'), 'Deployment');
  t.equal(env(blind, 'AWS_ACCESS_KEY_ID'), undefined, 'readEvidence false: no S3 credentials on the responder');
  t.equal(env(blind, 'AMBER_UI_SESSION_KEY_FILE'), '/etc/amber/ui/session-key');
});

t.test("credentials and keys given in values become the chart's Secrets", async (t) => {
  const objects = variant('static S3 credentials from values');
  const s3 = one(objects, 'Secret', 'amber-s3')['data'] as Record<string, string>;
  t.equal(Buffer.from(s3['AWS_ACCESS_KEY_ID'] ?? '', 'base64').toString(), 'AKIAEXAMPLE');
  t.equal(Buffer.from(s3['AWS_SECRET_ACCESS_KEY'] ?? '', 'base64').toString(), 'c2VjcmV0');
  const tokens = one(objects, 'Secret', 'amber-auth')['data'] as Record<string, string>;
  t.equal(Buffer.from(tokens['tokens'] ?? '', 'base64').toString(), 'falcosidekick-0123456789abcdef\nalertmanager-0123456789abcdef\n');
  const agent = container(objects, 'DaemonSet');
  t.same(env(agent, 'AWS_ACCESS_KEY_ID'), { secretKeyRef: { name: 'amber-s3', key: 'AWS_ACCESS_KEY_ID' } });
  t.equal(env(agent, 'AMBER_S3_SSE'), 'aws:kms');
  t.equal(env(agent, 'AMBER_S3_KMS_KEY_ID'), 'arn:aws:kms:eu-west-1:111122223333:key/abcd');
  t.equal(env(agent, 'AMBER_S3_REGION'), 'eu-west-1');
});

t.test("IRSA: the agent's ServiceAccount is annotated, and no static credentials", async (t) => {
  const objects = variant('IRSA');
  t.same(one(objects, 'ServiceAccount', agentName).metadata.annotations, { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/amber', team: 'soc' });
  t.same(one(objects, 'ServiceAccount', responderName).metadata.annotations, { team: 'soc' }, 'the responder gets the shared annotations only');
  t.equal(env(container(objects, 'DaemonSet'), 'AWS_ACCESS_KEY_ID'), undefined);
  t.equal(podSpec(one(objects, 'DaemonSet')).serviceAccountName, agentName);
  t.equal(podSpec(one(objects, 'Deployment')).serviceAccountName, responderName);
});

t.test('ServiceMonitor and NetworkPolicy when enabled', async (t) => {
  const objects = variant('ServiceMonitor and NetworkPolicy');
  const monitors = find(objects, 'ServiceMonitor');
  t.same(monitors.map((m) => m.metadata.name).sort(), [agentName, responderName]);
  t.match(one(objects, 'ServiceMonitor', responderName), {
    metadata: { labels: { release: 'prometheus' } },
    spec: { endpoints: [{ port: 'https', scheme: 'https', path: '/metrics', tlsConfig: { ca: { secret: { name: 'amber-tls', key: 'ca.crt' } } } }] },
  });
  t.match(one(objects, 'ServiceMonitor', agentName), { spec: { endpoints: [{ port: 'metrics', scheme: 'http' }] } });
  t.match(one(objects, 'Service', agentName), { spec: { clusterIP: 'None', ports: [{ name: 'metrics', port: 9090 }] } });
  const intake = (one(objects, 'NetworkPolicy', responderName)['spec'] as { ingress: { ports: { port: string }[]; from: unknown[] }[] }).ingress.find(
    (rule) => rule.ports[0]?.port === 'https' && JSON.stringify(rule.from).includes('falco'),
  );
  t.same(
    intake?.from,
    [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'falco' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'falcosidekick' } },
      },
    ],
    'networkPolicy.intake.from narrows the intake to the given pods',
  );
});

t.test('the agent reaches its own kubelet at NODE_IP (status.hostIP) unless agent.kubelet.address says where', async (t) => {
  const agent = container(render(), 'DaemonSet');
  t.same(env(agent, 'NODE_IP'), { fieldRef: { fieldPath: 'status.hostIP' } });
  t.equal(env(agent, 'AMBER_KUBELET_ADDRESS'), undefined);
  t.equal(env(container(render({ agent: { kubelet: { address: '[fd00::7]:10250' } } }), 'DaemonSet'), 'AMBER_KUBELET_ADDRESS'), '[fd00::7]:10250');
  t.not(template({ agent: { kubelet: { address: 'a b' } } }).status, 0, 'not HOST[:PORT]: refused by the values schema');
});

t.test('a custom checkpoint dir is mounted at the same path, with the kubelet CA and priority class', async (t) => {
  const objects = variant('custom checkpoint dir, kubelet CA and priority class');
  const ds = podSpec(one(objects, 'DaemonSet'));
  const agent = container(objects, 'DaemonSet');
  t.match(
    ds.volumes?.find((v) => v.name === 'checkpoints'),
    { hostPath: { path: '/data/kubelet/checkpoints' } },
  );
  t.match(
    agent.volumeMounts?.find((m) => m.name === 'checkpoints'),
    { mountPath: '/data/kubelet/checkpoints', readOnly: true },
    'read-only when the node copy is kept',
  );
  t.equal(env(agent, 'AMBER_CHECKPOINT_DIR'), '/data/kubelet/checkpoints');
  t.equal(env(agent, 'AMBER_DELETE_NODE_COPY'), 'false');
  t.equal(env(agent, 'AMBER_MIN_FREE_BYTES'), '5368709120');
  t.equal(env(agent, 'AMBER_KUBELET_CA'), '/etc/amber/kubelet-ca/ca.crt');
  t.match(
    ds.volumes?.find((v) => v.name === 'kubelet-ca'),
    { configMap: { name: 'kubelet-serving-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } },
  );
  t.equal(ds.priorityClassName, 'system-node-critical');
  const responder = container(objects, 'Deployment');
  t.equal(env(responder, 'AMBER_TLS_CLIENT_CA'), '/etc/amber/client-ca/ca.crt');
  for (const c of [responder, agent]) t.same(c.args?.slice(-2), ['--config', '/etc/amber/config/amber.yaml'], `${c.name}: --config`);
  t.match(one(objects, 'ConfigMap', 'amber-config')['data'], { 'amber.yaml': /concurrency: 2/ });
  const checksum = (o: K8sObject): string | undefined =>
    (o['spec'] as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['checksum/config'];
  t.not(checksum(one(objects, 'DaemonSet')), checksum(one(variant('defaults'), 'DaemonSet')), 'a config change rolls the pods');
});

t.test('the webhook can be turned off; extra policies join the built-in ones', async (t) => {
  const objects = variant('webhook off, extra policy');
  t.equal(find(objects, 'ValidatingWebhookConfiguration').length, 0);
  t.ok(one(objects, 'Secret', 'amber-tls'), 'the responder still serves TLS');
  const data = one(objects, 'ConfigMap', 'amber-policies')['data'] as Record<string, string>;
  t.ok(data['site.yaml'] && data['interactive-shell.yaml'], 'extra and built-in policies together');
});

// ---- 2. The admission webhook ----

interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  sideEffects: string;
  failurePolicy: string;
  timeoutSeconds: number;
  clientConfig: { service: { name: string; namespace: string; path: string; port: number }; caBundle?: string };
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  rules: { operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[]; scope?: string }[];
}

const webhookOf = (objects: readonly K8sObject[]): Webhook => {
  const hooks = one(objects, 'ValidatingWebhookConfiguration')['webhooks'] as Webhook[];
  if (hooks.length !== 1 || !hooks[0]) throw new Error(`expected one webhook, found ${hooks.length}`);
  return hooks[0];
};

const SIGNALS = [
  { operations: ['CONNECT'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/exec', 'pods/attach'], scope: 'Namespaced' },
  { operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/ephemeralcontainers'], scope: 'Namespaced' },
];
const EVIDENCE_HOLD = [
  { operations: ['DELETE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
  { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/eviction'], scope: 'Namespaced' },
];

t.test("webhook: its own port (`webhook`), the API server's client certificate required, the Service and the webhook pointing at it", async (t) => {
  const objects = variant("webhook with the API server's client certificate");
  const responder = container(objects, 'Deployment');
  t.same(responder.args?.slice(-2), ['--admission-listen', '0.0.0.0:9443'], 'the admission listener, with the intake certificate');
  t.same(responder.ports, [
    { name: 'https', containerPort: 8443, protocol: 'TCP' },
    { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
  ]);
  t.match(responder.livenessProbe, { httpGet: { port: 'https' } }, 'probes stay on the intake port (the webhook port wants a client certificate)');
  t.match(one(objects, 'Service', responderName)['spec'], {
    ports: [
      { name: 'https', port: 443, targetPort: 'https' },
      { name: 'webhook', port: 9443, targetPort: 'webhook' },
    ],
  });
  t.same(
    webhookOf(objects).clientConfig.service,
    { name: responderName, namespace: NAMESPACE, path: '/v1/admission', port: 9443 },
    'the API server calls the webhook port',
  );
  t.equal(env(responder, 'AMBER_ADMISSION_CLIENT_CA'), '/etc/amber/admission-client-ca/ca.crt');
  t.equal(env(responder, 'AMBER_ADMISSION_CLIENT_NAME'), 'kube-apiserver');
  t.equal(env(responder, 'AMBER_ADMISSION_ALLOW_UNAUTHENTICATED'), undefined);
  t.equal(env(responder, 'AMBER_ADMISSION_MAX_HOLDS'), '32');
  t.match(
    podSpec(one(objects, 'Deployment')).volumes?.find((v) => v.name === 'admission-client-ca'),
    { secret: { secretName: 'apiserver-webhook-client-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
  );
  t.ok(responder.volumeMounts?.some((m) => m.name === 'admission-client-ca' && m.mountPath === '/etc/amber/admission-client-ca' && m.readOnly === true));

  const open = variant('webhook with unauthenticated callers');
  const r2 = container(open, 'Deployment');
  t.equal(env(r2, 'AMBER_ADMISSION_ALLOW_UNAUTHENTICATED'), 'true');
  t.equal(env(r2, 'AMBER_ADMISSION_UNAUTHENTICATED_HOLDS'), 'true');
  t.equal(env(r2, 'AMBER_ADMISSION_MAX_HOLDS'), '8');
  t.equal(env(r2, 'AMBER_ADMISSION_CLIENT_CA'), undefined);
  t.notOk(
    podSpec(one(open, 'Deployment')).volumes?.some((v) => v.name === 'admission-client-ca'),
    'no CA to mount',
  );
  const moved = render({ webhook: { ...WEBHOOK, port: 10250 } });
  t.equal(webhookOf(moved).clientConfig.service.port, 10250, 'webhook.port moves the listener, the Service port and the webhook together');
  t.same(container(moved, 'Deployment').args?.slice(-2), ['--admission-listen', '0.0.0.0:10250']);
  const cm = render({ webhook: { enabled: true, clientCA: { configMapName: 'apiserver-ca', key: 'ca.pem' } } });
  t.match(
    podSpec(one(cm, 'Deployment')).volumes?.find((v) => v.name === 'admission-client-ca'),
    { configMap: { name: 'apiserver-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } },
  );
});

t.test('webhook: observes exec, attach, debug and pod removal; never blocks the cluster', async (t) => {
  const objects = render({ webhook: WEBHOOK });
  const hook = webhookOf(objects);
  t.equal(hook.failurePolicy, 'Ignore', 'a down responder lets every request through');
  t.equal(hook.sideEffects, 'NoneOnDryRun');
  t.equal(hook.timeoutSeconds, 30, 'the API server maximum');
  t.same(hook.admissionReviewVersions, ['v1']);
  t.same(hook.clientConfig.service, { name: responderName, namespace: NAMESPACE, path: '/v1/admission', port: 9443 });
  t.same(hook.rules, [...SIGNALS, ...EVIDENCE_HOLD]);
  t.same(hook.namespaceSelector.matchExpressions, [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', NAMESPACE] }]);
  t.match(hook.name, /^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/, 'a fully qualified webhook name');
});

t.test('webhook, tls.mode=generate: caBundle is the CA that signed the serving certificate, for the Service names', async (t) => {
  const objects = render({ webhook: WEBHOOK });
  const hook = webhookOf(objects);
  const secret = one(objects, 'Secret', 'amber-tls');
  t.equal(secret['type'], 'kubernetes.io/tls');
  const data = secret['data'] as Record<string, string>;
  t.equal(hook.clientConfig.caBundle, data['ca.crt'], 'caBundle and the Secret hold the same CA');
  const ca = new X509Certificate(Buffer.from(data['ca.crt'] ?? '', 'base64'));
  const cert = new X509Certificate(Buffer.from(data['tls.crt'] ?? '', 'base64'));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'tls.crt is signed by it');
  for (const name of [`${responderName}.${NAMESPACE}.svc`, `${responderName}.${NAMESPACE}.svc.cluster.local`]) {
    t.ok(cert.checkHost(name), `the certificate is valid for ${name}`);
  }
  t.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * 86400_000, 'valid for more than a year');
  const tlsVolume = podSpec(one(objects, 'Deployment', responderName)).volumes?.find((v) => v.name === 'tls');
  t.match(tlsVolume, { secret: { secretName: 'amber-tls' } }, 'the responder serves this certificate');
});

t.test('webhook, tls.mode=certManager: the CA is injected from the Certificate the responder serves', async (t) => {
  const objects = render({ tls: { mode: 'certManager', extraDNSNames: ['amber.example.com'] }, webhook: WEBHOOK });
  const config = one(objects, 'ValidatingWebhookConfiguration');
  t.equal(config.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NAMESPACE}/amber-tls`);
  t.equal(webhookOf(objects).clientConfig.caBundle, undefined, 'cert-manager fills caBundle');
  t.equal(objects.filter((o) => o.kind === 'Secret' && o.metadata.name === 'amber-tls').length, 0, 'no chart-made certificate');
  const cert = one(objects, 'Certificate', 'amber-tls')['spec'] as { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } };
  t.equal(cert.secretName, 'amber-tls');
  t.ok(cert.dnsNames.includes(`${responderName}.${NAMESPACE}.svc`) && cert.dnsNames.includes('amber.example.com'));
  t.same(cert.issuerRef, { name: 'amber-ca', kind: 'Issuer', group: 'cert-manager.io' }, 'signed by the bootstrap CA issuer');
  t.match(one(objects, 'Certificate', 'amber-ca')['spec'], { isCA: true, issuerRef: { name: 'amber-selfsigned' } });
  t.match(one(objects, 'Issuer', 'amber-ca')['spec'], { ca: { secretName: 'amber-ca' } });

  const corp = render({ tls: { mode: 'certManager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } });
  t.same((one(corp, 'Certificate')['spec'] as { issuerRef: unknown }).issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  t.equal(corp.filter((o) => o.kind === 'Issuer').length, 0, 'a given issuer: no bootstrap issuers');
});

t.test('webhook options: no evidence hold, more excluded namespaces, Fail, a shorter timeout', async (t) => {
  const hook = webhookOf(
    render({
      webhook: { ...WEBHOOK, evidenceHold: false, excludeNamespaces: ['kube-system', 'falco', 'monitoring'], failurePolicy: 'Fail', timeoutSeconds: 10 },
    }),
  );
  t.same(hook.rules, SIGNALS, 'only exec/attach/ephemeral containers');
  t.same(hook.namespaceSelector.matchExpressions[0]?.values, ['kube-system', 'falco', 'monitoring', NAMESPACE]);
  t.equal(hook.failurePolicy, 'Fail');
  t.equal(hook.timeoutSeconds, 10);
});

t.test('webhook: refuses what the API server would refuse, or what could not work', async (t) => {
  const tooLong = template({ webhook: { timeoutSeconds: 31 } });
  t.not(tooLong.status, 0, 'timeoutSeconds above 30');
  t.match(tooLong.stderr, /timeoutSeconds/);
  const noCA = template({ tls: { mode: 'existingSecret', existingSecret: 'mine' }, webhook: WEBHOOK });
  t.not(noCA.status, 0, 'an existing certificate without its CA');
  t.match(noCA.stderr, /tls\.existingCABundle is required/);
  const badPolicy = template({ webhook: { failurePolicy: 'Block' } });
  const anyone = template({ webhook: { enabled: true } });
  t.not(anyone.status, 0, 'the webhook without a way to know its caller');
  t.match(anyone.stderr, /webhook\.clientCA\.secretName.*webhook\.allowUnauthenticated=true/);
  t.not(badPolicy.status, 0, 'a failurePolicy the API server does not know');
});

// ---- 3. Security contexts ----

const HARDENED = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function workloads(objects: readonly K8sObject[]): [string, PodSpec][] {
  return [
    ['responder', podSpec(one(objects, 'Deployment'))],
    ['agent', podSpec(one(objects, 'DaemonSet'))],
  ];
}

function containers(spec: PodSpec): Container[] {
  const init = (spec as unknown as { initContainers?: Container[] }).initContainers ?? [];
  return [...init, ...spec.containers];
}

/** Effective runAsNonRoot / runAsUser: the container's setting wins over the pod's. */
function effective(spec: PodSpec, c: Container, key: 'runAsNonRoot' | 'runAsUser'): unknown {
  return c.securityContext?.[key] ?? spec.securityContext?.[key];
}

t.test('securityContext: every container drops all capabilities, cannot escalate, and has a read-only root', async (t) => {
  for (const values of [{}, { agent: { runAsRoot: false } }, { tls: { mode: 'certManager' } }]) {
    for (const [role, spec] of workloads(render(values))) {
      t.match(spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' } }, `${role}: pod seccomp`);
      for (const c of containers(spec)) {
        t.match(c.securityContext, HARDENED, `${role}/${c.name} with ${JSON.stringify(values)}`);
        t.same((c.securityContext?.['capabilities'] as { add?: string[] }).add ?? [], [], `${role}/${c.name}: adds no capability`);
      }
      t.notOk((spec as unknown as Record<string, unknown>)['hostNetwork'], `${role}: no hostNetwork`);
      t.notOk((spec as unknown as Record<string, unknown>)['hostPID'], `${role}: no hostPID`);
      t.notOk((spec as unknown as Record<string, unknown>)['hostIPC'], `${role}: no hostIPC`);
    }
  }
});

t.test('securityContext: the responder runs as uid 65532, never root', async (t) => {
  const spec = podSpec(one(render(), 'Deployment'));
  const c = spec.containers[0] as Container;
  t.equal(effective(spec, c, 'runAsNonRoot'), true);
  t.equal(effective(spec, c, 'runAsUser'), 65532);
});

t.test("securityContext: the agent runs as root by default, to read the kubelet's 0600 archives, and as non-root when told", async (t) => {
  const root = podSpec(one(render(), 'DaemonSet'));
  t.equal(effective(root, root.containers[0] as Container, 'runAsUser'), 0);
  t.equal(effective(root, root.containers[0] as Container, 'runAsNonRoot'), false);
  const nonRoot = podSpec(one(render({ agent: { runAsRoot: false, runAsUser: 1234 } }), 'DaemonSet'));
  t.equal(effective(nonRoot, nonRoot.containers[0] as Container, 'runAsUser'), 1234);
  t.equal(effective(nonRoot, nonRoot.containers[0] as Container, 'runAsNonRoot'), true);
});

t.test(
  "securityContext: the agent can read the kubelet's root:root 0600 archives with no capability — uid 0 in the node's user namespace — and nothing more",
  async (t) => {
    for (const values of [
      {},
      { agent: { deleteNodeCopy: false } },
      { agent: { podSecurityContext: { runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } } } },
    ]) {
      const what = JSON.stringify(values);
      const spec = podSpec(one(render(values), 'DaemonSet'));
      const agent = spec.containers[0] as Container;
      t.equal((spec as unknown as { hostUsers?: boolean }).hostUsers, true, `${what}: no user namespace (uid 0 must be the node's uid 0, the archives' owner)`);
      t.equal(effective(spec, agent, 'runAsUser'), 0, `${what}: uid 0, whatever podSecurityContext says`);
      t.equal(spec.securityContext?.['runAsGroup'], 0);
      t.equal(effective(spec, agent, 'runAsNonRoot'), false);
      // owner permissions suffice: neither CAP_DAC_OVERRIDE nor CAP_DAC_READ_SEARCH
      t.same(agent.securityContext?.['capabilities'], { drop: ['ALL'] }, `${what}: every capability dropped, none added`);
      t.match(agent.securityContext, { privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      const hostPaths = (spec.volumes ?? []).filter((v) => v['hostPath']);
      t.same(
        hostPaths.map((v) => v.name),
        ['checkpoints'],
        'the checkpoint directory is the only hostPath',
      );
      const mount = agent.volumeMounts?.find((m) => m.name === 'checkpoints');
      t.equal(mount?.readOnly, JSON.stringify(values).includes('deleteNodeCopy') ? true : false, `${what}: read-only unless the agent deletes the node copy`);
    }
  },
);

t.test('securityContext: the only hostPath is the checkpoint directory; Secrets are mounted read-only', async (t) => {
  for (const [role, spec] of workloads(render())) {
    const hostPaths = (spec.volumes ?? []).filter((v) => v['hostPath']).map((v) => (v['hostPath'] as { path: string }).path);
    t.same(hostPaths, role === 'agent' ? ['/var/lib/kubelet/checkpoints'] : [], `${role}: hostPath volumes`);
    const secretVolumes = new Set((spec.volumes ?? []).filter((v) => v['secret']).map((v) => v.name));
    for (const c of containers(spec)) {
      for (const m of c.volumeMounts ?? []) if (secretVolumes.has(m.name)) t.equal(m.readOnly, true, `${role}: ${m.name} read-only`);
    }
  }
});
