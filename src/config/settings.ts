import Type, { type Static } from 'typebox';

const closed = { additionalProperties: false } as const;
const LabelKeys = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });
/** 1–65535 */
const LISTEN = '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):(6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|\\d{1,4})$';
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
    /**
     * The admission webhook (`POST /v1/admission`) on a listener of its own, always HTTPS: the API
     * server calls webhooks over TLS only. Off unless `listen` is set; on, it needs a way to know
     * its caller: the API server's client certificate (`clientCA`), or the operator's explicit
     * `allowUnauthenticated`.
     */
    admission: Type.Object(
      {
        listen: Type.Optional(Type.String({ pattern: LISTEN, description: 'HOST:PORT' })),
        /** The webhook's serving certificate and key; absent: tls.cert and tls.key. */
        tlsCert: Type.Optional(Type.String({ minLength: 1 })),
        tlsKey: Type.Optional(Type.String({ minLength: 1 })),
        /** Callers must present a client certificate this CA signed (the API server's, from its AdmissionConfiguration kubeconfig). */
        clientCA: Type.Optional(Type.String({ minLength: 1 })),
        /** …whose subject CN or a DNS/URI SAN is this name; absent: any certificate the CA signed. */
        clientName: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
        /** Let callers without a verified client certificate in; their signals are recorded as `unauthenticated`. */
        allowUnauthenticated: Type.Boolean(),
        /** Let policies hold exec and pod removal (`admission.holdUntil`, `holdDeletes`) for unauthenticated callers. */
        allowUnauthenticatedHolds: Type.Boolean(),
        /** Reviews held at once (holdUntil); one more is answered at once (allowed), logged and counted. 0: never hold. */
        maxConcurrentHolds: Type.Integer({ minimum: 0, maximum: 10_000 }),
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
    /**
     * What any caller can make amber freeze (issue 17), counted from the queue's records so every
     * replica shares them: captures per rolling hour cluster-wide, per node and per namespace, and
     * bytes of sealed archives per node per rolling day. 0 = unlimited.
     */
    budgets: Type.Object(
      {
        capturesPerHour: Type.Integer({ minimum: 0 }),
        capturesPerNodePerHour: Type.Integer({ minimum: 0 }),
        capturesPerNamespacePerHour: Type.Integer({ minimum: 0 }),
        archiveBytesPerNodePerDay: Type.Integer({ minimum: 0 }),
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
    /**
     * Who hears of a capture that is Sealed or Failed (README "Notifications"); config file only.
     * A policy's `spec.notify` names some of these for its captures. Checked again at start
     * (src/notify/notify-settings.ts): a URL that does not parse, a name a policy references
     * that is not here.
     */
    notifications: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
          type: Type.Union([Type.Literal('webhook'), Type.Literal('slack'), Type.Literal('kubernetes-event')]),
          /** webhook and slack: where to POST (or `urlFile`, for a URL that holds a secret, like Slack's). */
          url: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
          urlFile: Type.Optional(Type.String({ minLength: 1 })),
          /** webhook: the HMAC-SHA256 key, in a file (never logged). */
          secretFile: Type.Optional(Type.String({ minLength: 1 })),
          on: Type.Array(Type.Union([Type.Literal('sealed'), Type.Literal('failed')]), { minItems: 1, uniqueItems: true }),
          /** Only these policies' captures; absent: every policy's (unless the policy's own `spec.notify` says otherwise). */
          policies: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        },
        closed,
      ),
      { maxItems: 32 },
    ),
    /**
     * The evidence browser at /ui (README "The evidence browser"). Sign-in turns a bearer token into
     * a signed session cookie; `proxyUser` instead trusts a front proxy's user header, from the
     * listed addresses only.
     */
    ui: Type.Object(
      {
        enabled: Type.Boolean(),
        /** How long a session lasts after sign-in. */
        sessionMinutes: Type.Integer({ minimum: 5, maximum: 7 * 24 * 60 }),
        /**
         * The key sessions are signed with (32+ bytes, in a file): replicas that share it accept one
         * another's sessions. Absent: a random key per process (a restart signs everyone out).
         */
        sessionKeyFile: Type.Optional(Type.String({ minLength: 1 })),
        /** Sign-in attempts allowed per client address per minute (then 429 with Retry-After). */
        signInPerMinute: Type.Integer({ minimum: 1, maximum: 1000 }),
        /** Trust `header` as the signed-in user's name, on requests from these addresses or CIDRs only (oauth2-proxy: X-Forwarded-User). */
        proxyUser: Type.Optional(
          Type.Object(
            {
              header: Type.String({ pattern: '^[A-Za-z0-9-]+$', maxLength: 64 }),
              from: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 64 }),
            },
            closed,
          ),
        ),
        /**
         * The restore button: a restore from the page does what `amber restore --image <image>
         * --namespace <namespace>` does, signed with the key of the process that runs it (serve
         * itself; for a responder, the agent of the capture's node, which needs the same setting)
         * and recorded as requested by the signed-in user. Absent: the page offers the commands only.
         */
        restore: Type.Optional(
          Type.Object(
            {
              /** `host[:port]/repository` the checkpoint image is pushed to (tagged restore-<capture id>). */
              image: Type.String({ pattern: '^[^\\s/]+/[^\\s]+$', maxLength: 255 }),
              /** The sandbox namespace (a Pod and its deny-all NetworkPolicy per restore); never the original's. */
              namespace: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
              registryUser: Type.Optional(Type.String({ minLength: 1 })),
              /** The registry password, in a file (AMBER_REGISTRY_PASSWORD otherwise). */
              registryPasswordFile: Type.Optional(Type.String({ minLength: 1 })),
              registryCaFile: Type.Optional(Type.String({ minLength: 1 })),
              /** Plain HTTP to the registry (a test registry on loopback). */
              insecureRegistry: Type.Optional(Type.Boolean()),
              node: Type.Optional(Type.String({ minLength: 1 })),
              runtimeClass: Type.Optional(Type.String({ minLength: 1 })),
              /** `key=value:Effect`, `key:Effect` or `key:Exists`, as `amber restore --tolerate`. */
              tolerations: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 16 })),
              /** `key=value`, as `amber restore --node-selector`. */
              nodeSelector: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 16 })),
            },
            closed,
          ),
        ),
      },
      closed,
    ),
    /** What the triage report looks for beyond amber's own indicators (README "YARA rules", "Indicator lists"); config file only. */
    analysis: Type.Object(
      {
        /** YARA rule files, or folders of `.yar`/`.yara` files, compiled at start: a bad rule stops the server with its file and line. */
        yara: Type.Array(Type.String({ minLength: 1 }), { maxItems: 64 }),
        /**
         * Indicator lists (README "Indicator lists"): files of SHA-256 hashes, IP addresses or CIDR
         * blocks (with optional ports), or domain names, one a line. Read at start (a bad line
         * refuses to start, naming file and line) and again whenever a file changes.
         */
        lists: Type.Array(
          Type.Object(
            {
              name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
              kind: Type.Union([Type.Literal('sha256'), Type.Literal('address'), Type.Literal('domain')]),
              path: Type.String({ minLength: 1 }),
              /** of its indicators; absent: high */
              severity: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('medium'), Type.Literal('info')])),
            },
            closed,
          ),
          { maxItems: 64 },
        ),
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
  admission: { allowUnauthenticated: false, allowUnauthenticatedHolds: false, maxConcurrentHolds: 32 },
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
  // README "Budgets" says why these: a leaked token cannot checkpoint the cluster, a real incident is never stopped
  budgets: { capturesPerHour: 100, capturesPerNodePerHour: 20, capturesPerNamespacePerHour: 30, archiveBytesPerNodePerDay: 128 * 1024 ** 3 },
  kube: { unclaimedSeconds: 300, apiBackoffBaseMs: 1000, apiBackoffMaxMs: 30_000 },
  encryption: { recipients: [] },
  notifications: [],
  ui: { enabled: true, sessionMinutes: 12 * 60, signInPerMinute: 10 },
  analysis: { yara: [], lists: [] },
  s3: { forcePathStyle: false, partSizeMiB: 16, queueSize: 4, sse: 'none', maxAttempts: 8, requestTimeoutSeconds: 120, staleUploadHours: 24 },
};
