// helm lint, and values.schema.json: a value of the wrong type, an unknown key or a value amber
// would refuse fails `helm template` (and so `helm install`) before anything reaches the cluster.
import t from 'tap';
import { CHART, helm, REQUIRED_VALUES, template } from './chart.js';

t.test('helm lint passes, also --strict, with and without the required values', async (t) => {
  for (const args of [[], ['--strict'], ['--strict', '-f', REQUIRED_VALUES]]) {
    const r = helm(['lint', CHART, ...args]);
    if (r.status !== 0) t.fail(`helm lint ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
    else t.pass(`helm lint ${args.join(' ')}`);
    t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    t.notMatch(r.stdout, /\[(WARNING|ERROR)\]/, 'no warnings');
  }
});

t.test('installing without an image or a store fails with what to set', async (t) => {
  const bare = helm(['template', 'amber', CHART]);
  t.not(bare.status, 0);
  t.match(bare.stderr, /image\.repository is required|store is required/);
  const noStore = template({ store: '' });
  t.not(noStore.status, 0);
  t.match(noStore.stderr, /store is required: s3:\/\/BUCKET\/PREFIX/);
  const noImage = template({ image: { repository: '' } });
  t.match(noImage.stderr, /image\.repository is required/);
});

t.test('values.schema.json refuses bad values, each named in the error', async (t) => {
  // helm reports every schema violation at once: one render checks them all.
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['replicas as a word', { responder: { replicas: 'two' } }, /'\/responder\/replicas': got string, want integer/],
    ['a boolean as a string', { webhook: { enabled: 'yes' } }, /'\/webhook\/enabled': got string, want boolean/],
    ['an unknown top-level key', { storage: 's3://x/y' }, /additional properties 'storage' not allowed/],
    ['a misspelt nested key', { agent: { checkpointDirectory: '/x' } }, /additional properties 'checkpointDirectory' not allowed/],
    ['a store that is not S3', { store: 'file:///evidence' }, /'\/store': 'file:\/\/\/evidence' does not match/],
    ['an unknown log level', { logLevel: 'verbose' }, /'\/logLevel': value must be one of/],
    ['an unknown SSE mode', { s3: { sse: 'aws:kms:dsse' } }, /'\/s3\/sse': value must be one of/],
    ['an unknown TLS mode', { tls: { mode: 'self-signed' } }, /'\/tls\/mode': value must be one of/],
    ['a relative checkpoint dir', { agent: { checkpointDir: 'checkpoints' } }, /'\/agent\/checkpointDir': 'checkpoints' does not match/],
    ['a port out of range', { responder: { port: 70000 } }, /'\/responder\/port': maximum/],
    ['a cluster name that cannot be a key segment', { cluster: 'Prod/EU' }, /'\/cluster': 'Prod\/EU' does not match/],
    ['a short intake token', { auth: { tokens: ['secret'] } }, /'\/auth\/tokens\/0': minLength/],
    ['a policy file name without .yaml', { policies: { extra: { 'site.txt': 'x' } } }, /'site\.txt' does not match pattern/],
  ];
  const merged: Record<string, unknown> = {};
  for (const [, values] of cases) mergeInto(merged, values);
  const r = template(merged);
  t.not(r.status, 0, 'helm template fails');
  t.match(r.stderr, /values don't meet the specifications of the schema/);
  for (const [what, , message] of cases) t.match(r.stderr, message, `${what} is refused`);

  const one = template({ responder: { replicas: 'two' } });
  t.not(one.status, 0, 'a single wrong type is enough to fail');
  t.equal(one.stdout, '', 'and nothing is rendered');
});

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    const existing = target[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof existing === 'object' && existing !== null) {
      mergeInto(existing as Record<string, unknown>, v as Record<string, unknown>);
    } else target[k] = v;
  }
}

t.test('good values of every documented shape pass the schema', async (t) => {
  const r = template({
    image: { tag: '0.1.0', digest: `sha256:${'a'.repeat(64)}`, pullPolicy: 'Always' },
    imagePullSecrets: [{ name: 'regcred' }],
    responder: { podDisruptionBudget: { minAvailable: '50%' }, antiAffinity: 'required', service: { type: 'LoadBalancer' } },
    agent: { minFreeBytes: 0, dataDirSizeLimit: '2Gi', kubelet: { insecureSkipTLSVerify: true } },
    metrics: { serviceMonitor: { enabled: true, interval: '15s' } },
    webhook: { matchConditions: [{ name: 'not-nodes', expression: "!request.userInfo.username.startsWith('system:node:')" }] },
    extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=512' }],
  });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /image: registry\.example\.com\/amber@sha256:a{64}/, 'a digest wins over the tag');
  t.match(r.stdout, /name: AMBER_KUBELET_INSECURE_SKIP_TLS_VERIFY\n\s+value: "true"/);
  t.match(r.stdout, /requiredDuringSchedulingIgnoredDuringExecution/);
  t.match(r.stdout, /name: AMBER_MIN_FREE_BYTES\n\s+value: "0"/);
});
