import type { Capture } from '../core/capture.js';
import { resolveTarget, type ResolvedTarget } from '../kube/resolve-target.js';
import type { CaptureDeps } from './capture-deps.js';
import { isAmberError, isTransient } from '../core/amber-error.js';
import { runCapture } from './run-capture.js';
import { Semaphore } from './semaphore.js';

/** The longest wait before a run stopped by the queue is tried again. */
const MAX_CRASH_RETRY_MS = 60_000;

export interface CaptureWorker {
  /** Resolves once every running capture has finished its current attempt. */
  stop(): Promise<void>;
  /** Resolves when the capture is Failed, or Sealed with its report made or given up (for the demo and tests). */
  settled(id: string, timeoutMs?: number): Promise<Capture>;
}

/**
 * Runs queued captures: each new one at once (the container keeps running while we wait, so
 * every millisecond is attacker time), unfinished ones found at start-up (a restart resumes
 * them), and retries when their `retryAt` comes. At most `concurrency` upload at a time; the
 * checkpoint requests themselves never queue behind uploads.
 */
export async function startCaptureWorker(given: CaptureDeps, options: { concurrency?: number } = {}): Promise<CaptureWorker> {
  // `concurrency` bounds uploads; checkpoint requests start at once (up to a generous cap of
  // their own, so a backlog of uploads and reports never holds a new capture back).
  const deps: CaptureDeps = {
    ...given,
    uploads: given.uploads ?? new Semaphore(options.concurrency ?? 4),
    checkpoints: given.checkpoints ?? new Semaphore(256),
  };
  /** Pods read while the intake's journal was flushed, for the first attempt of a new capture. */
  const prepared = new Map<string, Promise<ResolvedTarget>>();
  const running = new Map<string, Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  const settledWaiters = new Map<string, ((c: Capture) => void)[]>();
  /** runs in a row that ended on a transient failure of the queue, per capture */
  const crashes = new Map<string, number>();
  let stopped = false;

  const finish = (capture: Capture) => {
    if (!isSettled(capture)) return false;
    for (const w of settledWaiters.get(capture.id) ?? []) w(capture);
    settledWaiters.delete(capture.id);
    return true;
  };

  /** Starts the capture's next attempt at once, unless one is running (its end arms any retry). */
  const schedule = (id: string) => {
    if (stopped || running.has(id)) return;
    const target = prepared.get(id);
    prepared.delete(id);
    const run = runCapture(deps, id, target ? { target } : {})
      .then((capture) => {
        if (finish(capture) || !capture.status.retryAt) return;
        later(id, capture.status.retryAt);
      })
      .then(() => {
        crashes.delete(id);
      })
      .catch((e: unknown) => {
        // The queue itself failed (read or write): the attempt could not even record its failure.
        // That passes by itself, so the run is tried again later rather than left until a restart.
        if (isAmberError(e) && isTransient(e.code)) {
          const n = (crashes.get(id) ?? 0) + 1;
          crashes.set(id, n);
          const retryInMs = Math.min(MAX_CRASH_RETRY_MS, deps.settings.retryBaseMs * 2 ** (n - 1));
          deps.log.warn({ err: e, capture: id, code: e.code, retryInMs }, 'capture run stopped by a failure of the queue; trying again');
          later(id, new Date(Date.now() + retryInMs).toISOString());
        } else {
          deps.log.error({ err: e, capture: id }, 'capture run crashed; it will resume at the next start');
        }
      })
      .finally(() => running.delete(id));
    running.set(id, run);
  };
  const later = (id: string, retryAt: string) => {
    if (stopped) return; // a stopped worker arms nothing: the next start resumes the capture
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        schedule(id);
      },
      Math.max(0, Date.parse(retryAt) - Date.now()),
    );
    timers.add(timer);
  };

  // A new capture's pod is read while the intake's journal is flushed: reading changes nothing,
  // and the checkpoint request still waits until the capture is durable and `watch` schedules it.
  const unaccept = deps.queue.watchAccepted?.((capture, durable) => {
    if (stopped || isSettled(capture) || capture.status.retryAt) return;
    const target = resolveTarget(deps.api, capture.spec, deps.settings.kubeletAddress);
    target.catch(() => undefined); // runCapture meets the error, if it comes to run
    prepared.set(capture.id, target);
    durable.catch(() => prepared.delete(capture.id));
  });
  const unwatch = deps.queue.watch((capture) => {
    if (isSettled(capture)) return;
    if (capture.status.retryAt) later(capture.id, capture.status.retryAt);
    else schedule(capture.id);
  });
  const open = await deps.queue.list({ limit: Number.MAX_SAFE_INTEGER });
  for (const c of open.reverse()) {
    if (isSettled(c)) continue;
    if (c.status.retryAt)
      later(c.id, c.status.retryAt); // backoff holds across restarts
    else schedule(c.id);
  }

  return {
    async stop() {
      stopped = true;
      unwatch();
      unaccept?.();
      prepared.clear();
      for (const t of timers) clearTimeout(t);
      await Promise.all(running.values());
    },
    settled(id, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`capture ${id} did not settle within ${timeoutMs} ms`)), timeoutMs);
        const done = (c: Capture) => {
          clearTimeout(timer);
          resolve(c);
        };
        settledWaiters.set(id, [...(settledWaiters.get(id) ?? []), done]);
        // a capture settled already; if the queue cannot say now, the worker's own end of the run will
        void deps.queue.get(id).then(
          (c) => {
            if (c && isSettled(c)) finish(c);
          },
          () => undefined,
        );
      });
    },
  };
}

/** Nothing left to do: Failed, or Sealed and no triage report still to make. */
function isSettled(c: Capture): boolean {
  return c.status.phase === 'Failed' || (c.status.phase === 'Sealed' && c.status.report?.state !== 'Pending');
}
