import { DEFAULT_SETTINGS, Settings } from './settings.js';

/**
 * The three roles of the one binary: `serve` is everything in one process on the embedded file
 * journal; in a cluster, `responder` replicas take alerts and create Capture resources, and one
 * `agent` per node runs the captures for its node.
 */
export type Role = 'serve' | 'responder' | 'agent';

/** Where a setting's flag is listed in the help. */
export type HelpSection = 'server' | 'admission' | 'capture' | 'budgets' | 'kube' | 's3';

/** A setting that also comes from a flag and an `AMBER_*` variable. */
export interface OverridableSetting {
  /** dotted path in Settings */
  readonly path: string;
  readonly flag: string;
  readonly env: string;
  /** the value's form in the help (`FILE`, `HOST:PORT`); absent for a boolean switch (`--insecure-no-auth`) */
  readonly arg?: string;
  /** one line for the help */
  readonly help: string;
  /** what happens without it, when DEFAULT_SETTINGS has no value for it */
  readonly absent?: string;
  /** the roles whose composition root reads it: their help lists it */
  readonly roles: readonly Role[];
  readonly section: HelpSection;
}

const ALL: readonly Role[] = ['serve', 'responder', 'agent'];
const INTAKE: readonly Role[] = ['serve', 'responder'];
const CAPTURE: readonly Role[] = ['serve', 'agent'];

/**
 * The settings that also come from a flag or an `AMBER_*` variable (flag > env > file > default).
 * The flag parser, the env overrides and every role's help are made from this table; the kind of
 * value (string, integer, boolean) comes from the schema and the default from DEFAULT_SETTINGS.
 */
export const OVERRIDABLE: readonly OverridableSetting[] = [
  { path: 'listen', flag: 'listen', env: 'AMBER_LISTEN', arg: 'HOST:PORT', help: 'where to listen', roles: ALL, section: 'server' },
  { path: 'policies', flag: 'policies', env: 'AMBER_POLICIES', arg: 'DIR', help: 'CapturePolicy YAML files', roles: ALL, section: 'server' },
  { path: 'dataDir', flag: 'data-dir', env: 'AMBER_DATA_DIR', arg: 'DIR', help: 'journal, keys, auth token', roles: ALL, section: 'server' },
  { path: 'store', flag: 'store', env: 'AMBER_STORE', arg: 'URI', help: 'evidence store: file://DIR | s3://bucket/prefix', roles: CAPTURE, section: 'server' },
  {
    path: 'auth.tokensFile',
    flag: 'auth-tokens-file',
    env: 'AMBER_AUTH_TOKENS_FILE',
    arg: 'FILE',
    help: 'bearer tokens, one a line',
    absent: 'one generated into <data-dir>/auth-token',
    roles: INTAKE,
    section: 'server',
  },
  {
    path: 'auth.insecureNoAuth',
    flag: 'insecure-no-auth',
    env: 'AMBER_INSECURE_NO_AUTH',
    help: 'accept unauthenticated requests (logs a warning)',
    roles: INTAKE,
    section: 'server',
  },
  {
    path: 'tls.cert',
    flag: 'tls-cert',
    env: 'AMBER_TLS_CERT',
    arg: 'FILE',
    help: 'serve HTTPS with this certificate…',
    absent: 'HTTP',
    roles: INTAKE,
    section: 'server',
  },
  { path: 'tls.key', flag: 'tls-key', env: 'AMBER_TLS_KEY', arg: 'FILE', help: '…and this key', absent: 'HTTP', roles: INTAKE, section: 'server' },
  {
    path: 'tls.clientCA',
    flag: 'tls-client-ca',
    env: 'AMBER_TLS_CLIENT_CA',
    arg: 'FILE',
    help: 'accept client certificates signed by this CA (Falco http_output)',
    absent: 'none',
    roles: INTAKE,
    section: 'server',
  },
  {
    path: 'admission.listen',
    flag: 'admission-listen',
    env: 'AMBER_ADMISSION_LISTEN',
    arg: 'HOST:PORT',
    help: 'serve the admission webhook (POST /v1/admission, HTTPS) here',
    absent: 'off',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.tlsCert',
    flag: 'admission-tls-cert',
    env: 'AMBER_ADMISSION_TLS_CERT',
    arg: 'FILE',
    help: "the webhook's serving certificate…",
    absent: '--tls-cert',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.tlsKey',
    flag: 'admission-tls-key',
    env: 'AMBER_ADMISSION_TLS_KEY',
    arg: 'FILE',
    help: '…and key',
    absent: '--tls-key',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.clientCA',
    flag: 'admission-client-ca',
    env: 'AMBER_ADMISSION_CLIENT_CA',
    arg: 'FILE',
    help: "require the API server's client certificate, signed by this CA (mTLS)",
    absent: 'none',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.clientName',
    flag: 'admission-client-name',
    env: 'AMBER_ADMISSION_CLIENT_NAME',
    arg: 'NAME',
    help: '…with this subject CN or DNS/URI SAN',
    absent: 'any the CA signed',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.allowUnauthenticated',
    flag: 'admission-allow-unauthenticated',
    env: 'AMBER_ADMISSION_ALLOW_UNAUTHENTICATED',
    help: 'accept callers without a verified client certificate (recorded: unauthenticated)',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.allowUnauthenticatedHolds',
    flag: 'admission-unauthenticated-holds',
    env: 'AMBER_ADMISSION_UNAUTHENTICATED_HOLDS',
    help: 'let policies hold exec and pod removal for unauthenticated callers',
    roles: INTAKE,
    section: 'admission',
  },
  {
    path: 'admission.maxConcurrentHolds',
    flag: 'admission-max-holds',
    env: 'AMBER_ADMISSION_MAX_HOLDS',
    arg: 'N',
    help: 'reviews held at once; beyond, answered at once (allowed)',
    roles: INTAKE,
    section: 'admission',
  },
  { path: 'bodyLimit', flag: 'body-limit', env: 'AMBER_BODY_LIMIT', arg: 'BYTES', help: 'largest request body', roles: INTAKE, section: 'server' },
  { path: 'logLevel', flag: 'log-level', env: 'AMBER_LOG_LEVEL', arg: 'LEVEL', help: 'fatal|error|warn|info|debug|trace', roles: ALL, section: 'server' },
  {
    path: 'shutdownGraceSeconds',
    flag: 'shutdown-grace-seconds',
    env: 'AMBER_SHUTDOWN_GRACE_SECONDS',
    arg: 'N',
    help: 'how long SIGTERM waits for in-flight work before exiting',
    roles: ALL,
    section: 'server',
  },
  { path: 'cluster', flag: 'cluster', env: 'AMBER_CLUSTER', arg: 'NAME', help: 'cluster name in evidence keys', roles: CAPTURE, section: 'capture' },
  {
    path: 'kubeconfig',
    flag: 'kubeconfig',
    env: 'AMBER_KUBECONFIG',
    arg: 'FILE',
    help: 'the API server',
    absent: '$KUBECONFIG, ~/.kube/config, in-cluster',
    roles: ALL,
    section: 'capture',
  },
  {
    path: 'kubelet.ca',
    flag: 'kubelet-ca',
    env: 'AMBER_KUBELET_CA',
    arg: 'FILE',
    help: "CA of the kubelets' serving certificates",
    absent: 'the cluster CA',
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'kubelet.insecureSkipTLSVerify',
    flag: 'kubelet-insecure-skip-tls-verify',
    env: 'AMBER_KUBELET_INSECURE_SKIP_TLS_VERIFY',
    help: 'do not verify kubelet certificates (logs a warning)',
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'kubelet.tokenFile',
    flag: 'kubelet-token-file',
    env: 'AMBER_KUBELET_TOKEN_FILE',
    arg: 'FILE',
    help: 'token for the kubelet',
    absent: "the kubeconfig user's, else the service account's",
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'kubelet.address',
    flag: 'kubelet-address',
    env: 'AMBER_KUBELET_ADDRESS',
    arg: 'HOST[:PORT]',
    help: 'where the kubelet is',
    absent: "the agent's $NODE_IP, else the Node's addresses; port: the Node's",
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'kubelet.checkpointDir',
    flag: 'checkpoint-dir',
    env: 'AMBER_CHECKPOINT_DIR',
    arg: 'DIR',
    help: 'where the kubelet writes archives, as mounted here',
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'ui.enabled',
    flag: 'ui',
    env: 'AMBER_UI',
    arg: 'BOOL',
    help: 'serve the evidence browser at /ui',
    roles: INTAKE,
    section: 'server',
  },
  {
    path: 'ui.sessionKeyFile',
    flag: 'ui-session-key-file',
    env: 'AMBER_UI_SESSION_KEY_FILE',
    arg: 'FILE',
    help: "the evidence browser's session key (share it between replicas)",
    absent: 'a random key per process',
    roles: INTAKE,
    section: 'server',
  },
  {
    path: 'capture.deleteNodeCopy',
    flag: 'delete-node-copy',
    env: 'AMBER_DELETE_NODE_COPY',
    arg: 'BOOL',
    help: "delete the node's archive once sealed",
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'capture.minFreeBytes',
    flag: 'min-free-bytes',
    env: 'AMBER_MIN_FREE_BYTES',
    arg: 'N',
    help: 'no checkpoint below this free space',
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'capture.report',
    flag: 'report',
    env: 'AMBER_REPORT',
    arg: 'BOOL',
    help: 'analyse each sealed archive into report.json',
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'signingKey',
    flag: 'signing-key',
    env: 'AMBER_SIGNING_KEY',
    arg: 'FILE',
    help: 'JWK or PKCS#8 PEM (Ed25519/P-256)',
    absent: 'generated into <data-dir>/signing',
    roles: CAPTURE,
    section: 'capture',
  },
  {
    path: 'encryption.recipientsFile',
    flag: 'encryption-recipients-file',
    env: 'AMBER_ENCRYPTION_RECIPIENTS_FILE',
    arg: 'FILE',
    help: 'encrypt evidence to these age recipients unless a policy names others',
    absent: 'none',
    roles: ALL,
    section: 'capture',
  },
  {
    path: 'jwksFile',
    flag: 'jwks-file',
    env: 'AMBER_JWKS_FILE',
    arg: 'FILE',
    help: "more keys for /.well-known/jwks.json (rotated ones; the agents' for a responder)",
    absent: 'none',
    roles: INTAKE,
    section: 'capture',
  },
  {
    path: 'budgets.capturesPerHour',
    flag: 'max-captures-per-hour',
    env: 'AMBER_MAX_CAPTURES_PER_HOUR',
    arg: 'N',
    help: 'captures per rolling hour, cluster-wide (0: unlimited)',
    roles: INTAKE,
    section: 'budgets',
  },
  {
    path: 'budgets.capturesPerNodePerHour',
    flag: 'max-captures-per-node-per-hour',
    env: 'AMBER_MAX_CAPTURES_PER_NODE_PER_HOUR',
    arg: 'N',
    help: 'captures per rolling hour on one node (0: unlimited)',
    roles: INTAKE,
    section: 'budgets',
  },
  {
    path: 'budgets.capturesPerNamespacePerHour',
    flag: 'max-captures-per-namespace-per-hour',
    env: 'AMBER_MAX_CAPTURES_PER_NAMESPACE_PER_HOUR',
    arg: 'N',
    help: 'captures per rolling hour in one namespace (0: unlimited)',
    roles: INTAKE,
    section: 'budgets',
  },
  {
    path: 'budgets.archiveBytesPerNodePerDay',
    flag: 'max-archive-bytes-per-node-per-day',
    env: 'AMBER_MAX_ARCHIVE_BYTES_PER_NODE_PER_DAY',
    arg: 'BYTES',
    help: 'no new checkpoint on a node whose archives of the last 24 h reach this (0: unlimited)',
    roles: INTAKE,
    section: 'budgets',
  },
  {
    path: 'kube.namespace',
    flag: 'namespace',
    env: 'AMBER_NAMESPACE',
    arg: 'NS',
    help: 'where Capture resources live',
    absent: '$POD_NAMESPACE, else amber-system',
    roles: ['responder', 'agent'],
    section: 'kube',
  },
  { path: 'kube.node', flag: 'node', env: 'AMBER_NODE', arg: 'NAME', help: "the agent's node", absent: '$NODE_NAME', roles: ['agent'], section: 'kube' },
  {
    path: 's3.endpoint',
    flag: 's3-endpoint',
    env: 'AMBER_S3_ENDPOINT',
    arg: 'URL',
    help: 'S3-compatible endpoint (RGW, MinIO)',
    absent: 'AWS',
    roles: CAPTURE,
    section: 's3',
  },
  {
    path: 's3.region',
    flag: 's3-region',
    env: 'AMBER_S3_REGION',
    arg: 'REGION',
    help: 'region',
    absent: '$AWS_REGION, else us-east-1',
    roles: CAPTURE,
    section: 's3',
  },
  {
    path: 's3.forcePathStyle',
    flag: 's3-force-path-style',
    env: 'AMBER_S3_FORCE_PATH_STYLE',
    arg: 'BOOL',
    help: 'path-style addressing',
    roles: CAPTURE,
    section: 's3',
  },
  { path: 's3.partSizeMiB', flag: 's3-part-size-mib', env: 'AMBER_S3_PART_SIZE_MIB', arg: 'N', help: 'multipart part size', roles: CAPTURE, section: 's3' },
  { path: 's3.queueSize', flag: 's3-queue-size', env: 'AMBER_S3_QUEUE_SIZE', arg: 'N', help: 'parts in flight per upload', roles: CAPTURE, section: 's3' },
  { path: 's3.sse', flag: 's3-sse', env: 'AMBER_S3_SSE', arg: 'none|AES256|aws:kms', help: 'server-side encryption', roles: CAPTURE, section: 's3' },
  {
    path: 's3.kmsKeyId',
    flag: 's3-kms-key-id',
    env: 'AMBER_S3_KMS_KEY_ID',
    arg: 'ID',
    help: 'KMS key for aws:kms',
    absent: "the bucket's default key",
    roles: CAPTURE,
    section: 's3',
  },
];

/** The kind of value a setting holds, from the schema: what a flag's or variable's text is read as. */
export function kindOf(path: string): 'string' | 'integer' | 'boolean' {
  let node: unknown = Settings;
  for (const key of path.split('.')) node = (node as { properties?: Record<string, unknown> }).properties?.[key];
  const type = (node as { type?: unknown } | undefined)?.type;
  if (node === undefined) throw new Error(`no setting ${path}`);
  return type === 'integer' ? 'integer' : type === 'boolean' ? 'boolean' : 'string';
}

/** A setting's default as the help says it: DEFAULT_SETTINGS' value, else what happens without it. */
export function defaultText(s: OverridableSetting): string {
  let value: unknown = DEFAULT_SETTINGS;
  for (const key of s.path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
  if (value !== undefined) return String(value);
  if (s.absent === undefined) throw new Error(`setting ${s.path} has neither a default nor a word for its absence`);
  return s.absent;
}
