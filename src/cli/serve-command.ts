import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadSettings } from '../config/load-settings.js';
import type { Settings } from '../config/settings.js';
import { IntakeMetrics } from '../http/intake-metrics.js';
import { startServer, type RunningServer } from '../http/start-server.js';
import { loadPolicies } from '../policy/load-policies.js';
import { FileQueue } from '../queue/file-queue.js';
import { AmberError } from '../core/amber-error.js';
import { startHealthServer } from '../http/start-health-server.js';
import { kubeApi, loadKubeConfig } from '../kube/kube-api.js';
import { failUnclaimed } from '../queue/kube/fail-unclaimed.js';
import { KubeQueue } from '../queue/kube/kube-queue.js';
import { placeTarget } from '../kube/place-target.js';
import { parseKubeletAddress, type KubeletAddress } from '../kube/resolve-target.js';
import { loadPublicJwks, mergeJwks } from '../evidence/signing-key.js';
import { setUpAuth } from './auth-setup.js';
import { defaultRecipients } from './encryption-setup.js';
import { openCheckedStore, setUpSigning, startCaptureSide, type CaptureSide } from './start-capture.js';
import { EXIT, parseFlags, version, type Io } from './cli-support.js';
import { createLogger } from './create-logger.js';

export const SERVE_HELP = `Usage: amber serve [options]

Runs amber all-in-one: alert intake, policies and the embedded capture queue.

Options (each also as an env var; flag > env > --config file > default):
  --listen HOST:PORT        where to listen            AMBER_LISTEN     (127.0.0.1:8080)
  --policies DIR            CapturePolicy YAML files    AMBER_POLICIES   (./policies)
  --data-dir DIR            journal, keys, auth token   AMBER_DATA_DIR   (./.amber)
  --store URI               file://DIR | s3://bucket/p  AMBER_STORE      (file://./evidence)
  --config FILE             YAML settings file
  --auth-tokens-file FILE   bearer tokens, one a line   AMBER_AUTH_TOKENS_FILE
  --insecure-no-auth        accept unauthenticated requests (logs a warning)
  --tls-cert FILE --tls-key FILE   serve HTTPS          AMBER_TLS_CERT, AMBER_TLS_KEY
  --tls-client-ca FILE      accept client certificates signed by this CA (Falco http_output)
  --body-limit BYTES        largest request body        AMBER_BODY_LIMIT (1048576)
  --log-level LEVEL         fatal|error|warn|info|debug AMBER_LOG_LEVEL  (info)

Capture (checkpoint → seal → store):
  --cluster NAME            cluster name in evidence keys             AMBER_CLUSTER (default)
  --kubeconfig FILE         else $KUBECONFIG, ~/.kube/config, in-cluster   AMBER_KUBECONFIG
  --kubelet-ca FILE         CA of the kubelets' serving certs (default: the cluster CA)
  --kubelet-insecure-skip-tls-verify   do not verify kubelet certificates (warns)
  --kubelet-token-file FILE token for the kubelet (default: kubeconfig user, else service account)
  --kubelet-address HOST[:PORT]   where the kubelet is   AMBER_KUBELET_ADDRESS
                            (default: the agent's $NODE_IP, else the Node's addresses; port: the Node's)
  --checkpoint-dir DIR      where the kubelet writes archives   (/var/lib/kubelet/checkpoints)
  --delete-node-copy BOOL   delete the node's archive once sealed     (true)
  --min-free-bytes N        no checkpoint below this free space       (1 GiB)
  --report BOOL             analyse each sealed archive into report.json   AMBER_REPORT (true)
  --signing-key FILE        JWK or PKCS#8 PEM (Ed25519/P-256); default: generated into <data-dir>/signing
  --encryption-recipients-file FILE   encrypt evidence to these age recipients (one age1… a line)
                            unless a policy says otherwise   AMBER_ENCRYPTION_RECIPIENTS_FILE
  --jwks-file FILE          more public keys to publish at /.well-known/jwks.json   AMBER_JWKS_FILE
                            (earlier keys after a rotation; the responder's copy of the agents' key)

Kubernetes-native roles (amber responder / amber agent):
  --namespace NS            where Capture resources live    AMBER_NAMESPACE (POD_NAMESPACE, else amber-system)
  --node NAME               the agent's node                AMBER_NODE (NODE_NAME)

S3 store (--store s3://bucket/prefix; credentials: the AWS SDK's chain — env, profile, IRSA, IMDS):
  --s3-endpoint URL         S3-compatible endpoint (RGW, MinIO)       AMBER_S3_ENDPOINT
  --s3-region REGION        (AWS_REGION, else us-east-1)              AMBER_S3_REGION
  --s3-force-path-style BOOL  path-style addressing                   AMBER_S3_FORCE_PATH_STYLE (false)
  --s3-part-size-mib N      multipart part size                       AMBER_S3_PART_SIZE_MIB (16)
  --s3-queue-size N         parts in flight per upload                AMBER_S3_QUEUE_SIZE (4)
  --s3-sse none|AES256|aws:kms   server-side encryption               AMBER_S3_SSE (none)
  --s3-kms-key-id ID        KMS key for aws:kms                       AMBER_S3_KMS_KEY_ID
  -h, --help
`;

export const SETTINGS_FLAGS = {
  listen: { type: 'string' },
  policies: { type: 'string' },
  'data-dir': { type: 'string' },
  store: { type: 'string' },
  config: { type: 'string' },
  'auth-tokens-file': { type: 'string' },
  'insecure-no-auth': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'body-limit': { type: 'string' },
  'log-level': { type: 'string' },
  'shutdown-grace-seconds': { type: 'string' },
  cluster: { type: 'string' },
  kubeconfig: { type: 'string' },
  'kubelet-ca': { type: 'string' },
  'kubelet-insecure-skip-tls-verify': { type: 'boolean' },
  'kubelet-token-file': { type: 'string' },
  'kubelet-address': { type: 'string' },
  'checkpoint-dir': { type: 'string' },
  'delete-node-copy': { type: 'string' },
  'min-free-bytes': { type: 'string' },
  report: { type: 'string' },
  'signing-key': { type: 'string' },
  'jwks-file': { type: 'string' },
  'encryption-recipients-file': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  's3-force-path-style': { type: 'string' },
  's3-part-size-mib': { type: 'string' },
  's3-queue-size': { type: 'string' },
  's3-sse': { type: 'string' },
  's3-kms-key-id': { type: 'string' },
  namespace: { type: 'string' },
  node: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * The three roles of the one binary: `serve` is everything in one process on the embedded file
 * journal; in a cluster, `responder` replicas take alerts and create Capture resources, and one
 * `agent` per node runs the captures for its node.
 */
export type Role = 'serve' | 'responder' | 'agent';

export interface Serving {
  readonly role: Role;
  readonly server: RunningServer;
  readonly settings: Readonly<Settings>;
  readonly log: Logger;
  readonly capture: CaptureSide;
  /** Graceful stop: no new requests, in-flight ones finish, the journal is closed. */
  stop(): Promise<void>;
}

/** Builds every part from settings and starts listening. Throws (with a code) when it cannot. */
export async function startServe(args: readonly string[], io: Io, role: Role = 'serve'): Promise<Serving | undefined> {
  const { values } = parseFlags(args, SETTINGS_FLAGS);
  if (values.help) {
    io.out(role === 'serve' ? SERVE_HELP : ROLE_HELP[role]);
    return undefined;
  }
  const settings = await loadSettings({ flags: values, env: io.env, configFile: values.config });
  const log = createLogger(settings.logLevel).child({ role });
  const policies = await loadPolicies(settings.policies, { recipients: await defaultRecipients(settings) });
  log.info({ dir: resolve(settings.policies), policies: policies.map((p) => p.name) }, 'policies loaded');
  // the responder never writes evidence: only the agent (and serve) open the store
  const store = role === 'responder' ? undefined : await openCheckedStore(settings, policies, log);
  const auth = role === 'agent' ? undefined : await setUpAuth(settings, log);
  const signingKey = role === 'responder' ? undefined : await setUpSigning(settings, log);
  const published = settings.jwksFile === undefined ? [] : await loadPublicJwks(settings.jwksFile);
  const jwks = mergeJwks(signingKey ? [signingKey.publicJwk] : [], published);
  // the responder verifies nothing itself, but analysts fetch the keys from it
  if (role === 'responder' && jwks.keys.length === 0) log.warn('no public keys to publish at /.well-known/jwks.json: set --jwks-file (the Helm chart does)');
  const queue = role === 'serve' ? await FileQueue.open({ dir: resolve(settings.dataDir, 'journal') }) : kubeQueueFor(role, settings, io.env, log);
  let server: RunningServer;
  let capture: CaptureSide | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  try {
    if (store !== undefined && signingKey !== undefined) {
      capture = await startCaptureSide(settings, store, queue, signingKey, log, version(), kubeletAddressFor(role, settings, io.env));
    }
    if (role === 'responder' && queue instanceof KubeQueue) sweeper = sweepUnclaimed(queue, settings, log);
    server =
      role === 'agent'
        ? await startHealthServer({ queue, log, metrics: new IntakeMetrics({ processMetrics: true }) }, { listen: settings.listen, tls: settings.tls })
        : await startServer(
            {
              log,
              queue,
              policies,
              auth: auth as NonNullable<typeof auth>,
              metrics: new IntakeMetrics({ processMetrics: true }),
              bodyLimit: settings.bodyLimit,
              labelKeys: settings.alertmanager.labels,
              version: version(),
              jwks,
            },
            { listen: settings.listen, tls: settings.tls },
          );
  } catch (e) {
    clearInterval(sweeper);
    await capture?.close();
    await queue.close();
    throw e;
  }
  log.info({ url: server.url, dataDir: resolve(settings.dataDir), store: settings.store, version: version() }, 'amber is serving');
  let stopping: Promise<void> | undefined;
  return {
    role,
    server,
    settings,
    log,
    capture: capture as CaptureSide,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(sweeper);
        await server.close();
        await capture?.close(); // running captures finish their current step
        await queue.close(); // last: requests and captures still append
        log.info('stopped cleanly');
      })()),
  };
}

/**
 * The Capture-resource queue, already talking to the API server: it lists (an agent also
 * watches), retrying with backoff until the API answers — /readyz says 503 until then, the
 * process never exits over it.
 */
function kubeQueueFor(role: 'responder' | 'agent', settings: Settings, env: Io['env'], log: Logger): KubeQueue {
  const queue = newKubeQueue(role, settings, env, log);
  queue.start();
  return queue;
}

function newKubeQueue(role: 'responder' | 'agent', settings: Settings, env: Io['env'], log: Logger): KubeQueue {
  const kc = loadKubeConfig(settings.kubeconfig);
  const namespace = settings.kube.namespace ?? env['POD_NAMESPACE'] ?? 'amber-system';
  const backoff = { baseMs: settings.kube.apiBackoffBaseMs, maxMs: settings.kube.apiBackoffMaxMs };
  if (role === 'agent') {
    const node = settings.kube.node ?? env['NODE_NAME'];
    if (node === undefined || node === '') {
      throw new AmberError('CONFIG_INVALID', {
        setting: 'kube.node',
        problem: 'an agent needs its node name (--node, AMBER_NODE, or NODE_NAME from the downward API)',
      });
    }
    log.info({ namespace, node }, 'agent: taking the Captures of this node');
    return KubeQueue.forAgent({ kc, namespace, node, log, backoff });
  }
  const api = kubeApi(kc);
  log.info({ namespace }, 'responder: Captures are created as resources');
  return KubeQueue.forResponder({ kc, namespace, log, backoff, place: (target) => placeTarget(api, target) });
}

/**
 * Where the capture side reaches the kubelet: `--kubelet-address` for every role; for the agent,
 * else its node's IP from the downward API (NODE_IP = status.hostIP, the chart sets it), which is
 * the address its kubelet serves on whatever order the Node lists its addresses in. Anything else
 * (serve): the Node's addresses, as each target's node may be another.
 */
function kubeletAddressFor(role: Role, settings: Settings, env: Io['env']): KubeletAddress | undefined {
  const node = role === 'agent' ? (settings.kube.node ?? env['NODE_NAME']) : undefined;
  if (settings.kubelet.address !== undefined) {
    const given = parseKubeletAddress(settings.kubelet.address);
    if (given === undefined)
      throw new AmberError('CONFIG_INVALID', { setting: 'kubelet.address', problem: `'${settings.kubelet.address}' is not HOST[:PORT]` });
    return { ...given, node };
  }
  const nodeIP = env['NODE_IP']?.trim();
  if (role === 'agent' && nodeIP) return { host: nodeIP, node };
  return undefined;
}

/** Every minute, Captures no agent took within `kube.unclaimedSeconds` fail with NoAgent (any replica may do it). */
function sweepUnclaimed(queue: KubeQueue, settings: Settings, log: Logger): NodeJS.Timeout {
  const timer = setInterval(
    () => {
      failUnclaimed(queue, settings.kube.unclaimedSeconds * 1000).then(
        (ids) => ids.length > 0 && log.warn({ captures: ids, afterSeconds: settings.kube.unclaimedSeconds }, 'captures no agent took are failed (NoAgent)'),
        (err: unknown) => log.warn({ err }, 'could not check for unclaimed captures'),
      );
    },
    Math.min(60_000, settings.kube.unclaimedSeconds * 500),
  );
  timer.unref();
  return timer;
}

/** `amber serve|responder|agent`: runs until SIGTERM/SIGINT, then shuts down within the grace period. */
export async function serveCommand(args: readonly string[], io: Io, role: Role = 'serve'): Promise<number> {
  const serving = await startServe(args, io, role);
  if (!serving) return EXIT.OK;
  const { log, settings } = serving;
  await new Promise<void>((done) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'shutting down: no new requests, finishing those in flight');
      const timer = setTimeout(() => {
        log.error({ graceSeconds: settings.shutdownGraceSeconds }, 'shutdown took too long; exiting');
        process.exit(EXIT.CANNOT_RUN);
      }, settings.shutdownGraceSeconds * 1000);
      timer.unref();
      serving.stop().then(done, (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        done();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return EXIT.OK;
}

const ROLE_HELP: Record<'responder' | 'agent', string> = {
  responder: `Usage: amber responder [options]

The cluster's intake: takes alerts (and admission requests), matches policies, finds each target's
node and creates a Capture resource (captures.forensics.amber.dev) in --namespace; replicas need no
leader (the Capture's name is derived from the dedupe key, so the second create is a duplicate).
Captures no agent takes within kube.unclaimedSeconds (300) fail with reason NoAgent.
Options as for 'amber serve' (see 'amber serve --help'), plus --namespace.
`,
  agent: `Usage: amber agent [options]

One per node (a DaemonSet): watches the Captures for its node (--node, or NODE_NAME), checkpoints
through the local kubelet, seals and stores the evidence, and writes progress to the Capture's
status. Serves only /healthz, /readyz and /metrics on --listen.
Options as for 'amber serve' (see 'amber serve --help'), plus --namespace and --node.
`,
};
