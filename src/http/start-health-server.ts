import Fastify, { LogController } from 'fastify';
import type { Logger } from 'pino';
import type { CaptureQueue } from '../queue/capture-queue.js';
import { healthRoutes } from './health-routes.js';
import type { IntakeMetrics } from './intake-metrics.js';
import { splitListen, type RunningServer, type ServerOptions } from './start-server.js';

/** The agent's only listener: /healthz, /readyz (the queue can be read and written), /metrics. */
export async function startHealthServer(deps: { queue: CaptureQueue; log: Logger; metrics: IntakeMetrics }, options: ServerOptions): Promise<RunningServer> {
  // probes and scrapes every few seconds: no line per request (fastify 5 takes this from a
  // LogController; the top-level disableRequestLogging option is deprecated, FSTDEP023)
  const app = Fastify({ loggerInstance: deps.log, logController: new LogController({ disableRequestLogging: true }) });
  await app.register(healthRoutes, { queue: deps.queue, metrics: deps.metrics });
  const { host, port } = splitListen(options.listen);
  await app.listen({ host, port });
  const address = app.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  // RunningServer's app type carries the intake's type provider; the health app has no typed routes
  return { url, app: app as unknown as RunningServer['app'], close: () => app.close() };
}
