import type { Logger } from 'pino';
import type { Role } from '../../config/overridable-settings.js';
import type { Settings } from '../../config/settings.js';
import type { RunningServer } from '../../http/start-server.js';
import type { CaptureQueue } from '../../queue/capture-queue.js';
import { EXIT, type Io } from '../cli-support.js';
import type { CaptureSide } from './start-capture.js';

/** A started role: what it listens on, and how it stops. */
export interface Serving {
  readonly role: Role;
  readonly server: RunningServer;
  readonly settings: Readonly<Settings>;
  readonly log: Logger;
  /** Graceful stop: no new requests, in-flight ones finish, the queue is closed. */
  stop(): Promise<void>;
}

/** A role that runs captures (`serve`, `agent`). */
export interface CapturingServing extends Serving {
  readonly capture: CaptureSide;
}

/** What a role is made of, in the order it stops. */
export interface RunningParts {
  readonly server: RunningServer;
  /** The admission webhook's listener, when it is on. */
  readonly admission?: RunningServer | undefined;
  readonly capture?: CaptureSide | undefined;
  readonly queue: CaptureQueue;
  readonly timers?: readonly NodeJS.Timeout[];
}

/**
 * The one graceful stop of a role (a second call waits for the first): the server takes no new
 * requests and finishes those in flight, running captures finish their current step, and the
 * queue closes last, as requests and captures still write to it.
 */
export function stopInOrder(log: Logger, parts: RunningParts): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      for (const t of parts.timers ?? []) clearInterval(t);
      await Promise.all([parts.server.close(), parts.admission?.close()]);
      await parts.capture?.close();
      await parts.queue.close();
      log.info('stopped cleanly');
    })());
}

/** Closes what a role had started when a later part of its start failed (then the error is thrown on). */
export async function closeStarted(parts: Omit<RunningParts, 'server'>): Promise<void> {
  for (const t of parts.timers ?? []) clearInterval(t);
  await parts.capture?.close();
  await parts.queue.close();
}

/** Where Capture resources live: --namespace, else the pod's namespace (downward API), else amber-system. */
export function captureNamespace(settings: Settings, env: Io['env']): string {
  return settings.kube.namespace ?? env['POD_NAMESPACE'] ?? 'amber-system';
}

/** Runs a started role until SIGTERM/SIGINT, then stops it within the grace period (or exits). */
export async function runUntilSignalled(serving: Serving | undefined): Promise<number> {
  if (!serving) return EXIT.OK;
  const { log, settings } = serving;
  await new Promise<void>((done) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'shutting down: no new requests, finishing those in flight');
      const timer = setTimeout(() => {
        log.error({ graceSeconds: settings.shutdownGraceSeconds }, 'shutdown took too long; exiting');
        process.exit(EXIT.CANNOT_RUN);
      }, settings.shutdownGraceSeconds * 1000);
      timer.unref();
      serving.stop().then(done, (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        done();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return EXIT.OK;
}
