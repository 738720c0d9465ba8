import type { Logger } from 'pino';
import { admissionListener, checkAdmissionHolds, type AdmissionListener } from '../../config/admission-settings.js';
import type { Settings } from '../../config/settings.js';
import { loadPublicJwks, mergeJwks, type SigningKey } from '../../evidence/signing-key.js';
import { IntakeMetrics } from '../../http/intake-metrics.js';
import type { AppDeps } from '../../http/build-app.js';
import { startServer, type RunningServer } from '../../http/start-server.js';
import type { CompiledPolicy } from '../../policy/compile-policy.js';
import type { CaptureQueue } from '../../queue/capture-queue.js';
import type { Authenticator } from '../../http/token-auth.js';
import { setUpAuth } from './auth-setup.js';
import { version } from '../cli-support.js';

/** The intake's credentials and the public keys it publishes besides its own, read before anything starts. */
export interface IntakeSetup {
  readonly auth: Authenticator;
  readonly published: Awaited<ReturnType<typeof loadPublicJwks>>;
  /** The admission listener, checked; undefined when it is off. */
  readonly admission?: AdmissionListener | undefined;
  /** One set of metrics for both listeners: the intake's /metrics shows the webhook's too. */
  readonly metrics: IntakeMetrics;
}

/**
 * Auth (auth-setup.ts), --jwks-file, and the admission listener's settings against the policies
 * (config/admission-settings.ts): a bad file or an unsafe admission set-up stops the start before
 * the queue opens.
 */
export async function setUpIntake(settings: Settings, log: Logger, policies: readonly CompiledPolicy[] = []): Promise<IntakeSetup> {
  const admission = admissionListener(settings);
  checkAdmissionHolds(settings, policies);
  if (admission?.allowUnauthenticated)
    log.warn(
      { listen: admission.listen, mtls: admission.tls.clientCA !== undefined },
      'the admission webhook accepts callers without a client certificate (--admission-allow-unauthenticated): anyone who can reach its port can make amber capture what an admission policy covers',
    );
  const auth = await setUpAuth(settings, log);
  const published = settings.jwksFile === undefined ? [] : await loadPublicJwks(settings.jwksFile);
  return { auth, published, admission, metrics: new IntakeMetrics({ processMetrics: true }) };
}

/** What the intake of `serve` and `responder` is built from. */
export interface IntakeParts {
  readonly settings: Settings;
  readonly log: Logger;
  readonly queue: CaptureQueue;
  readonly policies: readonly CompiledPolicy[];
  readonly setup: IntakeSetup;
  /** serve's own signing key, published at /.well-known/jwks.json; the responder holds none */
  readonly signingKey?: SigningKey | undefined;
  /** The evidence browser and the evidence routes (ui-setup.ts), on the intake listener only. */
  readonly browser?: Pick<AppDeps, 'ui' | 'desk' | 'restorer'> | undefined;
}

/** The fastify app on --listen: alerts, captures, health, metrics, public keys (not the admission webhook: startAdmission). */
export async function startIntake(p: IntakeParts): Promise<RunningServer> {
  const { settings } = p;
  return startServer({ ...appParts(p, p.log), ...(p.browser ?? {}), jwks: publishedJwks(p) }, { listen: settings.listen, tls: settings.tls });
}

/** The keys /.well-known/jwks.json serves, and the evidence browser verifies with: the signing key's and --jwks-file's. */
export function publishedJwks(p: Pick<IntakeParts, 'signingKey' | 'setup'>): ReturnType<typeof mergeJwks> {
  return mergeJwks(p.signingKey ? [p.signingKey.publicJwk] : [], p.setup.published);
}

/** What both listeners' apps are built from: one queue, one policy set, one set of metrics. */
function appParts(p: IntakeParts, log: Logger): Omit<AppDeps, 'jwks' | 'admission' | 'serverOptions'> {
  return {
    log,
    queue: p.queue,
    policies: p.policies,
    auth: p.setup.auth,
    metrics: p.setup.metrics,
    bodyLimit: p.settings.bodyLimit,
    labelKeys: p.settings.alertmanager.labels,
    version: version(),
  };
}

/** The admission webhook on --admission-listen (HTTPS, its callers as configured), or undefined when it is off. */
export async function startAdmission(p: IntakeParts): Promise<RunningServer | undefined> {
  const { log } = p;
  const a = p.setup.admission;
  if (a === undefined) return undefined;
  const server = await startServer(
    {
      ...appParts(p, log.child({ listener: 'admission' })),
      admission: {
        callers: { mtls: a.tls.clientCA !== undefined, clientName: a.clientName, allowUnauthenticated: a.allowUnauthenticated },
        allowUnauthenticatedHolds: a.allowUnauthenticatedHolds,
        maxConcurrentHolds: a.maxConcurrentHolds,
      },
    },
    { listen: a.listen, tls: { ...a.tls, requireClientCert: a.requireClientCert } },
  );
  log.info({ url: server.url, mtls: a.tls.clientCA !== undefined, allowUnauthenticated: a.allowUnauthenticated }, 'admission webhook listening');
  return server;
}
