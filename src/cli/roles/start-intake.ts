import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import { loadPublicJwks, mergeJwks, type SigningKey } from '../../evidence/signing-key.js';
import { IntakeMetrics } from '../../http/intake-metrics.js';
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
}

/** Auth (auth-setup.ts) and --jwks-file: a bad file stops the start before the queue opens. */
export async function setUpIntake(settings: Settings, log: Logger): Promise<IntakeSetup> {
  const auth = await setUpAuth(settings, log);
  const published = settings.jwksFile === undefined ? [] : await loadPublicJwks(settings.jwksFile);
  return { auth, published };
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
}

/** The fastify app on --listen: alerts, admission, captures, health, metrics, public keys. */
export async function startIntake(p: IntakeParts): Promise<RunningServer> {
  const { settings, log } = p;
  return startServer(
    {
      log,
      queue: p.queue,
      policies: p.policies,
      auth: p.setup.auth,
      metrics: new IntakeMetrics({ processMetrics: true }),
      bodyLimit: settings.bodyLimit,
      labelKeys: settings.alertmanager.labels,
      version: version(),
      jwks: mergeJwks(p.signingKey ? [p.signingKey.publicJwk] : [], p.setup.published),
    },
    { listen: settings.listen, tls: settings.tls },
  );
}
