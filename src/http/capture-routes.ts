import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { AmberError } from '../core/amber-error.js';
import { Capture, Phase } from '../core/capture.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import type { CaptureFeed, CaptureSummary as Summary } from './capture-feed.js';
import { ErrorAnswer } from './intake-routes.js';

const CaptureSummary = Type.Omit(Capture, ['signals']);

/** How many captures a filtered list looks through. */
const FILTER_WINDOW = 5000;

const ListQuery = Type.Object(
  {
    phase: Type.Optional(Phase),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    namespace: Type.Optional(Type.String({ maxLength: 253 })),
    policy: Type.Optional(Type.String({ maxLength: 253 })),
    /** an indicator id the triage report found (`reverse-shell`) */
    indicator: Type.Optional(Type.String({ maxLength: 64 })),
    /** text anywhere in the id, target, rule or policy (case-insensitive) */
    q: Type.Optional(Type.String({ maxLength: 256 })),
    /** paging: captures created before this capture (its id) */
    before: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

/** Read access to the capture queue, and its changes as server-sent events. */
export const captureRoutes: FastifyPluginAsyncTypebox<{ queue: CaptureQueue; feed?: CaptureFeed | undefined }> = async (app, { queue, feed }) => {
  app.get(
    '/v1/captures',
    {
      config: { auth: true },
      schema: {
        summary: 'Captures, newest first (without the raw signals), filtered and paged',
        security: [{ bearer: [] }],
        querystring: ListQuery,
        response: { 200: Type.Object({ captures: Type.Array(CaptureSummary), more: Type.Boolean() }), 401: ErrorAnswer, 422: ErrorAnswer },
      },
    },
    async (request) => {
      const { phase, limit = 100, namespace, policy, indicator, q, before } = request.query;
      const filtered = namespace !== undefined || policy !== undefined || indicator !== undefined || q !== undefined || before !== undefined;
      const listed = await queue.list({ phase, limit: filtered ? FILTER_WINDOW : limit + 1 });
      let from = 0;
      if (before !== undefined) {
        const at = listed.findIndex((c) => c.id === before);
        from = at < 0 ? listed.length : at + 1;
      }
      const text = q?.toLowerCase();
      const wanted = listed
        .slice(from)
        .filter(
          (c) =>
            (namespace === undefined || c.spec.target.namespace === namespace) &&
            (policy === undefined || c.spec.trigger.policy === policy) &&
            (indicator === undefined || (c.status.report?.indicators ?? []).includes(indicator)) &&
            (text === undefined || haystack(c).includes(text)),
        );
      return { captures: wanted.slice(0, limit).map(summary), more: wanted.length > limit };
    },
  );

  if (feed) {
    // An event stream never goes idle, so the server's close() would wait for the page to leave
    // (a SIGTERM then ran out its grace period and exited 2): streams are ended when the server
    // starts to close; the page's EventSource comes back to the next server.
    const streams = new Set<ServerResponse>();
    app.addHook('preClose', (done) => {
      for (const res of streams) res.end();
      done();
    });
    app.get(
      '/v1/captures/events',
      {
        config: { auth: true },
        schema: { summary: 'Captures as they change (text/event-stream: `capture` events of capture summaries)', security: [{ bearer: [] }] },
      },
      (request, reply) => {
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          connection: 'keep-alive',
        });
        // tells the page the stream is open (and how soon to come back after a cut)
        res.write('retry: 2000\n: open\n\n');
        streams.add(res);
        const unsubscribe = feed.subscribe((c: Summary) => void res.write(`event: capture\ndata: ${JSON.stringify(c)}\n\n`));
        // a comment now and then keeps proxies from closing an idle stream
        const beat = setInterval(() => void res.write(': beat\n\n'), 15_000);
        beat.unref();
        request.raw.once('close', () => {
          streams.delete(res);
          clearInterval(beat);
          unsubscribe();
        });
      },
    );
  }

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

function summary({ signals: _signals, ...rest }: Capture): Summary {
  return rest;
}

function haystack(c: Capture): string {
  const t = c.spec.target;
  return [c.id, t.namespace, t.pod, t.container ?? '', c.spec.trigger.rule, c.spec.trigger.policy].join('\n').toLowerCase();
}
