import type { FastifyPluginAsync } from 'fastify';
import type { CaptureQueue } from '../queue/capture-queue.js';
import type { IntakeMetrics } from './intake-metrics.js';

/** Liveness, readiness and metrics: no credentials needed (probes and Prometheus scrape them). */
export const healthRoutes: FastifyPluginAsync<{ queue: CaptureQueue; metrics: IntakeMetrics }> = async (app, { queue, metrics }) => {
  let closing = false;
  app.addHook('onClose', async () => {
    closing = true;
  });
  app.get('/healthz', { schema: { hide: true }, logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const queueReady = queue.isReady();
    const ready = !closing && queueReady;
    const reason = closing ? 'shutting down' : queueReady ? undefined : (queue.unready?.() ?? 'the queue cannot persist');
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', queue: queueReady ? 'ok' : 'cannot persist', ...(reason !== undefined ? { reason } : {}) });
  });
  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
};
