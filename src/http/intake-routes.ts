import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { AlertmanagerWebhook } from '../intake/alertmanager-webhook.js';
import { FalcoEvent } from '../intake/falco-event.js';
import { normaliseAlertmanager, type AlertmanagerLabelKeys } from '../intake/normalise-alertmanager.js';
import { normaliseFalco } from '../intake/normalise-falco.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import type { IntakeMetrics } from './intake-metrics.js';
import { IntakeAnswer, respondToSignals } from './respond-to-signals.js';

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

/** The alert intake: Falco / Falcosidekick events and Alertmanager webhooks. */
export const intakeRoutes: FastifyPluginAsyncTypebox<IntakeRouteOptions> = async (app, opts) => {
  const { metrics } = opts;
  app.addHook('onResponse', async (request, reply) => {
    metrics.intakeSeconds.observe({ route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.addHook('onError', async (request) => {
    const source = request.routeOptions.url?.endsWith('falco') ? 'falco' : 'alertmanager';
    metrics.signals.inc({ source, outcome: 'rejected' });
  });

  app.post(
    '/v1/alerts/falco',
    {
      config: { auth: true },
      schema: {
        summary: 'One Falco event (http_output with json_output, or Falcosidekick webhook)',
        security: [{ bearer: [] }],
        body: FalcoEvent,
        response: responses,
      },
    },
    async (request, reply) => {
      const result = normaliseFalco(request.body, request.rawBody);
      const { status, body } = await respondToSignals('falco', result, opts, request.log);
      return reply.status(status).send(body);
    },
  );

  app.post(
    '/v1/alerts/alertmanager',
    {
      config: { auth: true },
      schema: {
        summary: 'Alertmanager webhook (version 4); resolved alerts are ignored',
        security: [{ bearer: [] }],
        body: AlertmanagerWebhook,
        response: responses,
      },
    },
    async (request, reply) => {
      const result = normaliseAlertmanager(request.body, opts.labelKeys);
      const { status, body } = await respondToSignals('alertmanager', result, opts, request.log);
      return reply.status(status).send(body);
    },
  );
};
