import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerOptions, type onRequestHookHandler } from 'fastify';
import { AmberError, isAmberError, type ErrorCode } from '../core/amber-error.js';
import { describeSchemaErrors, type SchemaError } from '../core/schema-problem.js';
import type { AlertmanagerLabelKeys } from '../intake/normalise-alertmanager.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import { captureRoutes } from './capture-routes.js';
import { CODE_BY_FASTIFY_CODE, STATUS_BY_CODE } from './error-status.js';
import { healthRoutes } from './health-routes.js';
import type { IntakeMetrics } from './intake-metrics.js';
import { intakeRoutes } from './intake-routes.js';
import type { Authenticator } from './token-auth.js';
import { admissionRoutes, type AdmissionRouteOptions } from './admission-routes.js';
import { CaptureFeed } from './capture-feed.js';
import type { EvidenceDesk } from './evidence-desk.js';
import type { EvidenceRestorer } from './evidence-restorer.js';
import { evidenceRoutes } from './evidence-routes.js';
import { policyRoutes } from './policy-routes.js';
import { restoreRoutes } from './restore-routes.js';
import { uiRoutes, type UiOptions } from './ui/ui-routes.js';
import type { UiUser } from './ui/ui-session.js';

export interface AppDeps {
  readonly log: FastifyBaseLogger;
  readonly queue: CaptureQueue;
  readonly policies: readonly CompiledPolicy[];
  readonly auth: Authenticator;
  readonly metrics: IntakeMetrics;
  readonly bodyLimit: number;
  readonly labelKeys: AlertmanagerLabelKeys;
  readonly version: string;
  /** Public keys that verify manifest signatures, served at /.well-known/jwks.json. */
  readonly jwks?: { readonly keys: readonly object[] } | undefined;
  /**
   * Given: this app is the admission listener, and serves `POST /v1/admission` alone. Absent: the
   * intake (alerts, captures, health, metrics, keys), which never serves the webhook — the two are
   * on separate ports so the webhook's can be reachable from the API server only.
   */
  readonly admission?: Omit<AdmissionRouteOptions, 'policies' | 'queue' | 'metrics'> | undefined;
  /** The evidence browser at /ui and its sign-in; absent with --ui false. */
  readonly ui?: UiOptions | undefined;
  /** Reads of sealed bundles (report, verification, memory search, download); absent: those routes are not served. */
  readonly desk?: EvidenceDesk | undefined;
  /** The restore button (`ui.restore`): serve restores itself, a responder files the request for the agent; absent: its routes are not served. */
  readonly restorer?: EvidenceRestorer | undefined;
  /** Extra server options (https, connection timeouts) from the server wrapper. */
  readonly serverOptions?: Partial<FastifyServerOptions> & Record<string, unknown>;
}

export type App = FastifyInstance;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes that need a bearer token or client certificate. */
    auth?: boolean;
  }
  interface FastifyRequest {
    principal?: string;
    /** Set when the request came from the evidence browser (a session cookie or the trusted proxy). */
    uiUser?: UiUser;
    /** The JSON body exactly as received (kept as evidence; see Signal.rawText). */
    rawBody?: string;
  }
}

/**
 * The HTTP app, built only from what it is given: tests drive it over a real socket, the server
 * wrapper adds listen, TLS and shutdown. Nothing here reads the environment.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.serverOptions ?? {}),
    loggerInstance: deps.log,
    bodyLimit: deps.bodyLimit,
    requestIdHeader: 'x-request-id',
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // JSON only: fastify's default text/plain parser would let a wrong content type through.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    void parseJson(request, body as string, done);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'amber', version: deps.version, description: 'Alert intake and capture queue of amber' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  // Authentication runs first thing, before the body is read or parsed: a route-level onRequest
  // hook on every route that says `config: { auth: true }`. Attached when the route is declared
  // rather than a global hook that looks at the route's config on every request (fastify builds a
  // fresh routeOptions object each time it is read), and callback-style, so an authenticated
  // request goes on to body parsing synchronously instead of through a promise.
  const sessions = deps.ui?.sessions;
  const authenticate: onRequestHookHandler = (request, reply, done) => {
    let principal = deps.auth.authenticate(request);
    const browser = principal === undefined ? sessions?.userOf(request) : undefined;
    if (browser && sessions) {
      // a browser sends its cookie on every request: anything that changes something must also
      // carry the token only our page can read (CSRF)
      if (request.method !== 'GET' && request.method !== 'HEAD' && !sessions.csrfHolds(request, browser)) {
        done(new AmberError('UI_CSRF_MISMATCH'));
        return;
      }
      principal = browser.user;
      request.uiUser = browser;
      // every action in the evidence browser is logged with its user, when its answer ends: on
      // 'close', which a cut-short answer (the event stream of a closed tab, a cancelled search or
      // download) emits too — fastify's onResponse runs on 'finish' only, and never logged those
      reply.raw.once('close', () => {
        const id = (request.params as { id?: unknown } | undefined)?.id;
        request.log.info(
          {
            user: browser.user,
            via: browser.via,
            method: request.method,
            route: request.routeOptions.url,
            capture: id,
            status: reply.statusCode,
            ...(reply.raw.writableFinished ? {} : { cut: true }),
          },
          'evidence browser request',
        );
      });
    }
    if (principal === undefined) {
      reply.header('www-authenticate', 'Bearer realm="amber"');
      done(new AmberError('AUTH_REQUIRED'));
      return;
    }
    request.principal = principal;
    done();
  };
  app.addHook('onRoute', (route) => {
    if (route.config?.auth !== true) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    // The automatic HEAD route of a GET route arrives with the GET route's hooks, auth included.
    if (!own.includes(authenticate)) route.onRequest = [authenticate, ...own];
  });

  app.setErrorHandler((error: FastifyError & { validation?: SchemaError[] }, request, reply) => {
    const { code, message, status } = toAnswer(error);
    if (status >= 500) request.log.error({ err: error, code }, 'request failed');
    else request.log.warn({ code, problem: message }, 'request refused');
    return reply.status(status).send({ error: { code, message: status >= 500 && code === 'INTERNAL' ? 'internal error' : message } });
  });
  app.setNotFoundHandler((request, reply) => {
    request.log.info({ code: 'NOT_FOUND' }, 'no such route');
    return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  if (deps.admission) {
    await app.register(admissionRoutes, { ...deps.admission, policies: deps.policies, queue: deps.queue, metrics: deps.metrics });
    return app;
  }
  await app.register(healthRoutes, { queue: deps.queue, metrics: deps.metrics });
  if (deps.jwks) {
    const jwks = deps.jwks;
    app.get('/.well-known/jwks.json', { schema: { summary: 'Public keys that verify evidence manifests' } }, async () => jwks);
  }
  await app.register(intakeRoutes, { policies: deps.policies, queue: deps.queue, metrics: deps.metrics, labelKeys: deps.labelKeys });
  const feed = deps.ui ? new CaptureFeed({ queue: deps.queue, log: deps.log }) : undefined;
  if (feed) app.addHook('onClose', async () => feed.stop());
  await app.register(captureRoutes, { queue: deps.queue, feed });
  await app.register(policyRoutes, { policies: deps.policies });
  if (deps.desk) await app.register(evidenceRoutes, { queue: deps.queue, desk: deps.desk });
  if (deps.restorer) await app.register(restoreRoutes, { queue: deps.queue, restorer: deps.restorer });
  if (deps.ui) await app.register(uiRoutes, { ...deps.ui, auth: deps.auth });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

function toAnswer(error: FastifyError & { validation?: SchemaError[] }): { code: ErrorCode; message: string; status: number } {
  if (isAmberError(error)) return { code: error.code, message: error.message, status: STATUS_BY_CODE[error.code] ?? 500 };
  if (error.validation) {
    const { path, problem } = describeSchemaErrors(error.validation);
    return { code: 'INTAKE_INVALID_PAYLOAD', message: `${error.validationContext ?? 'body'} ${path}: ${problem}`, status: 422 };
  }
  const mapped = error.code === undefined ? undefined : CODE_BY_FASTIFY_CODE[error.code];
  if (mapped) return { code: mapped, message: error.message, status: STATUS_BY_CODE[mapped] ?? 400 };
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) {
    return { code: 'INTAKE_BAD_JSON', message: `body is not valid JSON: ${error.message}`, status: 400 };
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return { code: 'INTAKE_INVALID_PAYLOAD', message: error.message, status: error.statusCode };
  }
  return { code: 'INTERNAL', message: error.message, status: 500 };
}
