import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import type { EvidenceRestorer } from './evidence-restorer.js';
import { ErrorAnswer } from './intake-routes.js';

const Id = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Done = Type.Object({
  number: Type.Integer(),
  record: Type.String(),
  image: Type.String(),
  sandbox: Type.Object({ namespace: Type.String(), pod: Type.String(), networkPolicy: Type.String() }),
  signedBy: Type.String(),
});

/**
 * The restore button's API: where restores go, and a restore of a sealed capture into a sandbox —
 * 201 when this server restored it (`serve`: the sandbox pod exists and the signed record is
 * written), 202 when it filed it for the agent of the capture's node (a responder; the agent
 * answers in the capture's `status.restoreRequests`). Registered only when `ui.restore` is
 * configured (otherwise both are 404 and the page shows the commands only).
 */
export const restoreRoutes: FastifyPluginAsyncTypebox<{ queue: CaptureQueue; restorer: EvidenceRestorer }> = async (app, { queue, restorer }) => {
  const security = [{ bearer: [] }];
  app.addHook('onError', async (_request, reply, error) => {
    if (isAmberError(error) && error.code === 'EVIDENCE_BUSY') void reply.header('retry-after', '30');
  });

  app.get(
    '/v1/restores/target',
    {
      config: { auth: true },
      schema: {
        summary: 'Where a restore from the evidence browser puts the image and the sandbox',
        security,
        response: { 200: Type.Object({ image: Type.String(), namespace: Type.String() }) },
      },
    },
    async () => restorer.target,
  );

  app.post(
    '/v1/captures/:id/restores',
    {
      config: { auth: true },
      schema: {
        summary: 'Restores the sealed capture into a fenced sandbox pod, as `amber restore --image --namespace` does; the record names who asked',
        security,
        params: Id,
        response: {
          201: Type.Object({ done: Done }),
          202: Type.Object({ requested: Type.Object({ id: Type.String(), node: Type.Optional(Type.String()) }) }),
          404: ErrorAnswer,
          409: ErrorAnswer,
          429: ErrorAnswer,
        },
      },
    },
    async (request, reply) => {
      const capture = await queue.get(request.params.id);
      if (!capture) throw new AmberError('CAPTURE_NOT_FOUND', { id: request.params.id });
      const user = request.principal ?? 'anonymous';
      request.log.warn({ user, capture: capture.id, namespace: restorer.target.namespace }, 'a restore of the evidence was asked for');
      try {
        const answer = await restorer.restore(capture, { user }, (line) => request.log.info({ capture: capture.id, user }, `restore: ${line}`));
        if ('requested' in answer) {
          request.log.warn(
            { user, capture: capture.id, request: answer.requested.id, node: answer.requested.node },
            "the restore was filed for the agent of the capture's node",
          );
          return reply.status(202).send(answer);
        }
        const done = answer.done;
        request.log.warn(
          { user, capture: capture.id, number: done.number, sandbox: done.sandbox, record: done.record },
          'the evidence was restored into a sandbox',
        );
        return reply.status(201).send(answer);
      } catch (e) {
        request.log.warn({ err: e, user, capture: capture.id }, 'the restore did not complete');
        throw e;
      }
    },
  );
};
