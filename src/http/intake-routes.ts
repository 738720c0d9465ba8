import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, onErrorHookHandler, onResponseHookHandler } from 'fastify';
import Type from 'typebox';
import type { Source } from '../core/signal.js';
import { AlertmanagerWebhook } from '../intake/alertmanager-webhook.js';
import { FalcoEvent } from '../intake/falco-event.js';
import { normaliseAlertmanager, type AlertmanagerLabelKeys } from '../intake/normalise-alertmanager.js';
import { normaliseFalco } from '../intake/normalise-falco.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import { PolicyIndex } from '../policy/evaluate-policies.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import { EndOfTurn } from './end-of-turn.js';
import type { IntakeMetrics } from './intake-metrics.js';
import { IntakeAnswer, isPromise, respondToSignals, type ResponderDeps } from './respond-to-signals.js';

export const ErrorAnswer = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

const responses = {
  200: IntakeAnswer,
  202: IntakeAnswer,
  400: ErrorAnswer,
  401: ErrorAnswer,
  413: ErrorAnswer,
  415: ErrorAnswer,
  422: ErrorAnswer,
  503: ErrorAnswer,
};

export interface IntakeRouteOptions {
  readonly policies: readonly CompiledPolicy[];
  readonly queue: CaptureQueue;
  readonly metrics: IntakeMetrics;
  readonly labelKeys: AlertmanagerLabelKeys;
}

/**
 * Sends the responder's answer at the end of the turn (see EndOfTurn), or its failure through the
 * error handler at once (as a rejected async handler would). The handlers are plain functions that
 * send from here rather than async ones that `return reply`: a duplicate alert is then answered
 * without a single promise.
 */
function answer(reply: FastifyReply, work: ReturnType<typeof respondToSignals>, endOfTurn: EndOfTurn): void {
  const send = ({ status, body }: Awaited<typeof work>) =>
    endOfTurn.run(() => {
      try {
        reply.code(status).send(body);
      } catch (e) {
        fail(reply, e);
      }
    });
  if (isPromise(work)) work.then(send, (e: unknown) => fail(reply, e));
  else send(work);
}

function fail(reply: FastifyReply, e: unknown): void {
  // reply.send treats an Error as a failure (onError hooks, then the error handler); anything
  // else thrown would be sent as a payload, so it is wrapped (the error handler answers 500).
  reply.send(e instanceof Error ? e : new Error(String(e), { cause: e }));
}

/** The alert intake: Falco / Falcosidekick events and Alertmanager webhooks. */
export const intakeRoutes: FastifyPluginAsyncTypebox<IntakeRouteOptions> = async (app, opts) => {
  const { metrics } = opts;
  // The policy set is fixed for the life of the app: index it by rule name once.
  const deps: ResponderDeps = { policies: opts.policies, index: new PolicyIndex(opts.policies), queue: opts.queue, metrics };
  // fail() cannot throw in practice; if a send ever did, the other answers of the turn still go out
  const endOfTurn = new EndOfTurn((err) => app.log.error({ err }, 'sending an intake answer failed'));
  // Route-level, callback-style hooks: each route knows its own URL and source, so nothing is
  // looked up per request, and no promise is made per hook.
  const hooks = (route: string, source: Source): { onResponse: onResponseHookHandler; onError: onErrorHookHandler } => ({
    onResponse: (_request, reply, done) => {
      metrics.observeIntake(route, reply.statusCode, reply.elapsedTime / 1000);
      done();
    },
    onError: (_request, _reply, _error, done) => {
      metrics.countSignal(source, 'rejected');
      done();
    },
  });

  app.post(
    '/v1/alerts/falco',
    {
      config: { auth: true },
      ...hooks('/v1/alerts/falco', 'falco'),
      schema: {
        summary: 'One Falco event (http_output with json_output, or Falcosidekick webhook)',
        security: [{ bearer: [] }],
        body: FalcoEvent,
        response: responses,
      },
    },
    (request, reply) => {
      const result = normaliseFalco(request.body, request.rawBody);
      answer(reply, respondToSignals('falco', result, deps, request.log), endOfTurn);
    },
  );

  app.post(
    '/v1/alerts/alertmanager',
    {
      config: { auth: true },
      ...hooks('/v1/alerts/alertmanager', 'alertmanager'),
      schema: {
        summary: 'Alertmanager webhook (version 4); resolved alerts are ignored',
        security: [{ bearer: [] }],
        body: AlertmanagerWebhook,
        response: responses,
      },
    },
    (request, reply) => {
      const result = normaliseAlertmanager(request.body, opts.labelKeys);
      answer(reply, respondToSignals('alertmanager', result, deps, request.log), endOfTurn);
    },
  );
};
