import Type, { type Static } from 'typebox';

const closed = { additionalProperties: false } as const;
const LabelKeys = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });
/** 1–65535 */
const PORT = '(6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3})';

/** Every setting amber has: one schema for the YAML file, env vars and flags alike. */
export const Settings = Type.Object(
  {
    listen: Type.String({
      pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):(6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|\\d{1,4})$',
      description: 'HOST:PORT',
    }),
    policies: Type.String({ minLength: 1 }),
    dataDir: Type.String({ minLength: 1 }),
    store: Type.String({ pattern: '^(file|s3)://.+', description: 'file://DIR or s3://bucket/prefix' }),
    logLevel: Type.Union([
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
    ]),
    bodyLimit: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, description: 'bytes' }),
    auth: Type.Object(
      {
        /** One bearer token per line; blank lines and `#` comments ignored. */
        tokensFile: Type.Optional(Type.String({ minLength: 1 })),
        insecureNoAuth: Type.Boolean(),
      },
      closed,
    ),
    tls: Type.Object(
      {
        cert: Type.Optional(Type.String({ minLength: 1 })),
        key: Type.Optional(Type.String({ minLength: 1 })),
        /** Client certificates signed by this CA authenticate (Falco's http_output cannot send headers). */
        clientCA: Type.Optional(Type.String({ minLength: 1 })),
      },
      closed,
    ),
    alertmanager: Type.Object(
      {
        labels: Type.Object(
          {
            namespace: LabelKeys,
            pod: LabelKeys,
            container: LabelKeys,
            containerID: LabelKeys,
            rule: LabelKeys,
            priority: LabelKeys,
          },
          closed,
        ),
      },
      closed,
    ),
    shutdownGraceSeconds: Type.Integer({ minimum: 0, maximum: 600 }),
    /** Name of this cluster in evidence keys. */
    cluster: Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 63 }),
    /** kubeconfig file; absent: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
    kubeconfig: Type.Optional(Type.String({ minLength: 1 })),
    kubelet: Type.Object(
      {
        /** PEM of the CA that signed the kubelets' serving certificates. */
        ca: Type.Optional(Type.String({ minLength: 1 })),
        /** Skip kubelet certificate checks (logs a warning). */
        insecureSkipTLSVerify: Type.Boolean(),
        /** Bearer token file for the kubelet; default: the kubeconfig user's token, else the service account's. */
        tokenFile: Type.Optional(Type.String({ minLength: 1 })),
        /** Where the kubelet writes archives, as mounted here. */
        checkpointDir: Type.String({ minLength: 1 }),
        /**
         * Where to reach the kubelet: `HOST[:PORT]` (`[IPv6]:PORT` with a port). Absent: the agent
         * uses $NODE_IP (the downward API's status.hostIP), anything else the Node's addresses. A
         * missing port is the Node's status.daemonEndpoints.kubeletEndpoint.Port.
         */
        address: Type.Optional(
          Type.String({
            pattern: `^(\\[[0-9a-fA-F:.]+\\](:${PORT})?|[^:\\[\\]\\s]+(:${PORT})?|[0-9a-fA-F]*:[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$`,
            description: 'HOST[:PORT]',
          }),
        ),
      },
      closed,
    ),
    capture: Type.Object(
      {
        deleteNodeCopy: Type.Boolean(),
        minFreeBytes: Type.Integer({ minimum: 0 }),
        maxAttempts: Type.Integer({ minimum: 1, maximum: 20 }),
        concurrency: Type.Integer({ minimum: 1, maximum: 64 }),
        /** Analyse every sealed archive into report.json (a signed addendum), after sealing. */
        report: Type.Boolean(),
      },
      closed,
    ),
    /** The S3 store (`--store s3://bucket/prefix`); credentials come from the AWS SDK's usual chain. */
    s3: Type.Object(
      {
        /** Endpoint of an S3-compatible server (Ceph RGW, MinIO…); absent: AWS. */
        endpoint: Type.Optional(Type.String({ pattern: '^https?://.+' })),
        /** absent: AWS_REGION, else us-east-1 */
        region: Type.Optional(Type.String({ minLength: 1 })),
        /** `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key` (most non-AWS servers). */
        forcePathStyle: Type.Boolean(),
        /** Multipart part size; memory per upload is about partSizeMiB × queueSize. */
        partSizeMiB: Type.Integer({ minimum: 5, maximum: 5120 }),
        queueSize: Type.Integer({ minimum: 1, maximum: 32 }),
        sse: Type.Union([Type.Literal('none'), Type.Literal('AES256'), Type.Literal('aws:kms')]),
        /** KMS key id or ARN for `sse: aws:kms`; absent: the bucket's / account's default key. */
        kmsKeyId: Type.Optional(Type.String({ minLength: 1 })),
        /** Attempts per S3 request (5xx, SlowDown, resets, timeouts are retried with backoff). */
        maxAttempts: Type.Integer({ minimum: 1, maximum: 30 }),
        /** A request (a part's body included) not answered within this long is cut and retried. */
        requestTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
        /** Unfinished multipart uploads under the prefix older than this are aborted at start (0: all — only when one amber writes the prefix). */
        staleUploadHours: Type.Integer({ minimum: 0 }),
      },
      closed,
    ),
    /** The Kubernetes-native roles (`amber responder`, `amber agent`). */
    kube: Type.Object(
      {
        /** Where Capture resources live; absent: $POD_NAMESPACE (downward API), else amber-system. */
        namespace: Type.Optional(Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 })),
        /** The agent's node; absent: $NODE_NAME (downward API). */
        node: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
        /** A Capture no agent took within this many seconds fails with NoAgent. */
        unclaimedSeconds: Type.Integer({ minimum: 10 }),
        /** First wait after a failed list or watch of Captures; doubled (with jitter) for each failure in a row. */
        apiBackoffBaseMs: Type.Integer({ minimum: 10, maximum: 60_000 }),
        /** Longest such wait; a longer Retry-After from the API server is still honoured (up to 60 s). */
        apiBackoffMaxMs: Type.Integer({ minimum: 10, maximum: 600_000 }),
      },
      closed,
    ),
    /**
     * Evidence confidentiality: the age recipients (`age1…`) that captures are encrypted to when
     * their policy names none (`evidence.encryption.recipients`); a policy's `recipients: []` opts out.
     */
    encryption: Type.Object(
      {
        recipients: Type.Array(Type.String({ minLength: 1 }), { maxItems: 32 }),
        /** A recipients file as `age -R` reads it (one `age1…` a line, `#` comments), added to `recipients`. */
        recipientsFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      closed,
    ),
    /** Private signing key (JWK or PKCS#8 PEM, Ed25519 or P-256); absent: generated into <data-dir>/signing. */
    signingKey: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * A JWKS of public keys served at /.well-known/jwks.json besides amber's own: earlier signing
     * keys after a rotation, or — for the responder, which holds no private key — the agents' key.
     */
    jwksFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  closed,
);
export type Settings = Static<typeof Settings>;

export const DEFAULT_SETTINGS: Settings = {
  listen: '127.0.0.1:8080',
  policies: './policies',
  dataDir: './.amber',
  store: 'file://./evidence',
  logLevel: 'info',
  bodyLimit: 1024 * 1024,
  auth: { insecureNoAuth: false },
  tls: {},
  alertmanager: {
    labels: {
      namespace: ['namespace', 'k8s_ns_name'],
      pod: ['pod', 'k8s_pod_name'],
      container: ['container', 'container_name', 'k8s_container_name'],
      containerID: ['container_full_id', 'container_id'],
      rule: ['rule', 'alertname'],
      priority: ['priority', 'severity'],
    },
  },
  shutdownGraceSeconds: 25,
  cluster: 'default',
  kubelet: { insecureSkipTLSVerify: false, checkpointDir: '/var/lib/kubelet/checkpoints' },
  capture: { deleteNodeCopy: true, minFreeBytes: 1024 * 1024 * 1024, maxAttempts: 3, concurrency: 4, report: true },
  kube: { unclaimedSeconds: 300, apiBackoffBaseMs: 1000, apiBackoffMaxMs: 30_000 },
  encryption: { recipients: [] },
  s3: { forcePathStyle: false, partSizeMiB: 16, queueSize: 4, sse: 'none', maxAttempts: 8, requestTimeoutSeconds: 120, staleUploadHours: 24 },
};

/**
 * The three roles of the one binary: `serve` is everything in one process on the embedded file
 * journal; in a cluster, `responder` replicas take alerts and create Capture resources, and one
 * `agent` per node runs the captures for its node.
 */
export type Role = 'serve' | 'responder' | 'agent';

/** Where a setting's flag is listed in the help. */
export type HelpSection = 'server' | 'capture' | 'kube' | 's3';

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
