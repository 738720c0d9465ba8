import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { AmberError } from '../core/amber-error.js';
import { Capture, Phase } from '../core/capture.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import { ErrorAnswer } from './intake-routes.js';

const CaptureSummary = Type.Omit(Capture, ['signals']);

/** Read access to the capture queue. */
export const captureRoutes: FastifyPluginAsyncTypebox<{ queue: CaptureQueue }> = async (app, { queue }) => {
  app.get(
    '/v1/captures',
    {
      config: { auth: true },
      schema: {
        summary: 'Captures, newest first (without the raw signals)',
        security: [{ bearer: [] }],
        querystring: Type.Object(
          { phase: Type.Optional(Phase), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ captures: Type.Array(CaptureSummary) }), 401: ErrorAnswer, 422: ErrorAnswer },
      },
    },
    async (request) => {
      const captures = await queue.list({ phase: request.query.phase, limit: request.query.limit });
      return { captures: captures.map(({ signals: _signals, ...rest }) => rest) };
    },
  );

  app.get(
    '/v1/captures/:id',
    {
      config: { auth: true },
      schema: {
        summary: 'One capture, with the raw signals that triggered it',
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: Capture, 401: ErrorAnswer, 404: ErrorAnswer },
      },
    },
    async (request) => {
      const capture = await queue.get(request.params.id);
      if (!capture) throw new AmberError('CAPTURE_NOT_FOUND', { id: request.params.id });
      return capture;
    },
  );
};
