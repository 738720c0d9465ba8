import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import type { EvidenceDesk } from './evidence-desk.js';
import { ErrorAnswer } from './intake-routes.js';

const Id = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Check = Type.Object({
  check: Type.String(),
  ok: Type.Boolean(),
  detail: Type.Optional(Type.String()),
  artifact: Type.Optional(Type.String()),
  line: Type.Optional(Type.Integer()),
});
const SecretRef = Type.Object(
  {
    checkpoint: Type.Integer({ minimum: 0, maximum: 64 }),
    pid: Type.Integer({ minimum: 0 }),
    field: Type.Union([Type.Literal('env'), Type.Literal('cmdline')]),
    index: Type.Integer({ minimum: 0, maximum: 100_000 }),
  },
  { additionalProperties: false },
);

/**
 * A capture's sealed evidence, read from the store: the triage report (secrets masked; a reveal
 * is logged with who asked), the verification computed now, memory search (streamed, NDJSON) and
 * the bundle as one tar. The same authorisation as every other route: a bearer token, a client
 * certificate or the evidence browser's session.
 */
export const evidenceRoutes: FastifyPluginAsyncTypebox<{ queue: CaptureQueue; desk: EvidenceDesk }> = async (app, { queue, desk }) => {
  const captureOf = async (id: string): Promise<Capture> => {
    const capture = await queue.get(id);
    if (!capture) throw new AmberError('CAPTURE_NOT_FOUND', { id });
    return capture;
  };
  const security = [{ bearer: [] }];
  // a busy server says when to come back (the page shows the message)
  app.addHook('onError', async (_request, reply, error) => {
    if (isAmberError(error) && error.code === 'EVIDENCE_BUSY') void reply.header('retry-after', '5');
  });

  app.get(
    '/v1/captures/:id/report',
    {
      config: { auth: true },
      schema: {
        summary: "The capture's triage report (report.json), secret-looking values masked",
        security,
        params: Id,
        response: { 200: Type.Object({ report: Type.Unknown(), masked: Type.Array(SecretRef) }), 404: ErrorAnswer, 409: ErrorAnswer },
      },
    },
    async (request) => desk.report(await captureOf(request.params.id)),
  );

  app.post(
    '/v1/captures/:id/reveal',
    {
      config: { auth: true },
      schema: {
        summary: 'One masked value of the report, in clear (logged with who asked)',
        security,
        params: Id,
        body: SecretRef,
        response: { 200: Type.Object({ value: Type.String() }) },
      },
    },
    async (request) => {
      const capture = await captureOf(request.params.id);
      const value = await desk.reveal(capture, request.body);
      request.log.warn({ user: request.principal, capture: capture.id, secret: request.body }, 'a masked value of the evidence was revealed');
      return { value };
    },
  );

  app.get(
    '/v1/captures/:id/verification',
    {
      config: { auth: true },
      schema: {
        summary: 'The sealed bundle verified now, as `amber verify` verifies it',
        security,
        params: Id,
        response: {
          200: Type.Object({ valid: Type.Boolean(), target: Type.String(), checks: Type.Array(Check), encryptedUnchecked: Type.Integer() }),
          404: ErrorAnswer,
          409: ErrorAnswer,
        },
      },
    },
    async (request) => {
      const result = await desk.verify(await captureOf(request.params.id));
      request.log.info(
        { user: request.principal, capture: request.params.id, valid: result.valid, failed: result.checks.filter((c) => !c.ok).length },
        'bundle verified',
      );
      return result;
    },
  );

  app.get(
    '/v1/captures/:id/memory',
    {
      config: { auth: true },
      schema: {
        summary: 'Searches the checkpointed memory: one JSON line per match (application/x-ndjson), then a summary line',
        security,
        params: Id,
        querystring: Type.Object(
          { q: Type.String({ minLength: 1, maxLength: 1024 }), pid: Type.Optional(Type.Integer({ minimum: 1 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const capture = await captureOf(request.params.id);
      const abort = new AbortController();
      // the analyst cancelled (or the page went away): the search stops reading
      request.raw.once('close', () => abort.abort());
      reply.raw.once('close', () => abort.abort());
      request.log.info({ user: request.principal, capture: capture.id, pattern: request.query.q }, 'memory search');
      let started = false;
      const begin = () => {
        if (started) return;
        started = true;
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      };
      try {
        // a bad pattern or a capture without evidence is refused before the first byte (a 4xx)
        const done = await desk.search(capture, request.query.q, {
          pid: request.query.pid,
          signal: abort.signal,
          onMatch: (m) => {
            begin();
            reply.raw.write(`${JSON.stringify({ match: m })}\n`);
          },
        });
        begin();
        reply.raw.end(`${JSON.stringify({ done })}\n`);
      } catch (e) {
        if (!started) throw e;
        if (isAmberError(e) && e.code === 'SEARCH_CANCELLED') {
          reply.raw.destroy();
          return;
        }
        request.log.warn({ err: e, capture: capture.id }, 'memory search failed part-way');
        reply.raw.end(`${JSON.stringify({ error: { code: isAmberError(e) ? e.code : 'INTERNAL', message: (e as Error).message } })}\n`);
      }
    },
  );

  app.get(
    '/v1/captures/:id/bundle.tar',
    { config: { auth: true }, schema: { summary: 'The sealed bundle as one tar, with the JWKS and a README on verifying it offline', security, params: Id } },
    async (request, reply) => {
      const capture = await captureOf(request.params.id);
      const { fileName, stream } = await desk.download(capture);
      request.log.info({ user: request.principal, capture: capture.id }, 'bundle downloaded');
      stream.once('error', (err) => request.log.error({ err, capture: capture.id }, 'the bundle download broke off: the client gets a cut tar'));
      return reply
        .header('content-type', 'application/x-tar')
        .header('content-disposition', `attachment; filename="${fileName}"`)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(stream);
    },
  );
};
