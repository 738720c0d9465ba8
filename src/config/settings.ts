import Type, { type Static } from 'typebox';

const closed = { additionalProperties: false } as const;
const LabelKeys = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });

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
      Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'),
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
};

/** The settings that also come from a flag or an `AMBER_*` variable (flag > env > file > default). */
export const OVERRIDABLE = [
  { path: 'listen', flag: 'listen', env: 'AMBER_LISTEN', kind: 'string' },
  { path: 'policies', flag: 'policies', env: 'AMBER_POLICIES', kind: 'string' },
  { path: 'dataDir', flag: 'data-dir', env: 'AMBER_DATA_DIR', kind: 'string' },
  { path: 'store', flag: 'store', env: 'AMBER_STORE', kind: 'string' },
  { path: 'logLevel', flag: 'log-level', env: 'AMBER_LOG_LEVEL', kind: 'string' },
  { path: 'bodyLimit', flag: 'body-limit', env: 'AMBER_BODY_LIMIT', kind: 'integer' },
  { path: 'auth.tokensFile', flag: 'auth-tokens-file', env: 'AMBER_AUTH_TOKENS_FILE', kind: 'string' },
  { path: 'auth.insecureNoAuth', flag: 'insecure-no-auth', env: 'AMBER_INSECURE_NO_AUTH', kind: 'boolean' },
  { path: 'tls.cert', flag: 'tls-cert', env: 'AMBER_TLS_CERT', kind: 'string' },
  { path: 'tls.key', flag: 'tls-key', env: 'AMBER_TLS_KEY', kind: 'string' },
  { path: 'tls.clientCA', flag: 'tls-client-ca', env: 'AMBER_TLS_CLIENT_CA', kind: 'string' },
  { path: 'shutdownGraceSeconds', flag: 'shutdown-grace-seconds', env: 'AMBER_SHUTDOWN_GRACE_SECONDS', kind: 'integer' },
] as const;
