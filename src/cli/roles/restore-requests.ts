import type { Logger } from 'pino';
import { AmberError, isAmberError } from '../../core/amber-error.js';
import type { Capture } from '../../core/capture.js';
import type { CaptureApi } from '../../kube/capture-api.js';
import { setRestoreRequest, type RestoreRequestEntry } from '../../queue/kube/add-capture-restore.js';
import type { SandboxRestore } from './ui-restorer.js';

/** The queue's part the runner reads: each version of the node's Captures, and one by id. */
export interface RestoreRequestSource {
  onChange(listener: (capture: Capture) => void): () => void;
  get(id: string): Promise<Capture | undefined>;
}

/**
 * The agent's half of a responder's restore button (`ui.restore`): the restore requests the
 * responder files in `status.restoreRequests` of this node's Captures are run here, one at a time,
 * by the agent that sealed them (it holds the signing key and writes the store), and answered in
 * place — `Running` before it starts, then `Done` with the record's number or `Failed` with the
 * code. A request found `Running` was cut off by a restart of this agent: it is answered
 * `RESTORE_INTERRUPTED`, never run twice behind the analyst's back. Only requests on Captures
 * this agent's queue holds (its node's) are seen.
 */
export function runRestoreRequests(p: { queue: RestoreRequestSource; api: CaptureApi; restore: SandboxRestore; log: Logger; now?: () => Date }): {
  stop(): void;
  /** Resolves when every request seen so far is answered (for tests). */
  idle(): Promise<void>;
} {
  const now = p.now ?? (() => new Date());
  const taken = new Set<string>();
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const answer = async (captureId: string, entry: RestoreRequestEntry): Promise<void> => {
    try {
      await setRestoreRequest(p.api, captureId, { ...entry, answeredAt: now().toISOString() });
    } catch (err) {
      // the answer is lost only from the Capture: the record (if any) is beside the bundle, and the log has both
      p.log.error({ err, capture: captureId, request: entry.id, state: entry.state }, 'the restore request could not be answered on the Capture');
    }
  };

  const run = async (captureId: string, request: RestoreRequestEntry): Promise<void> => {
    if (stopped) return;
    const log = p.log.child({ capture: captureId, request: request.id, user: request.by });
    try {
      await setRestoreRequest(p.api, captureId, { ...request, state: 'Running' });
    } catch (err) {
      log.warn({ err }, 'the restore request could not be marked Running: it is left for the next change of the Capture');
      taken.delete(request.id);
      return;
    }
    log.warn('restoring the evidence into a sandbox, as asked in the evidence browser');
    try {
      const capture = await p.queue.get(captureId);
      if (capture === undefined) throw new AmberError('CAPTURE_NOT_FOUND', { id: captureId });
      const done = await p.restore(capture, { user: request.by }, (line) => log.info(`restore: ${line}`));
      log.warn({ number: done.number, sandbox: done.sandbox, record: done.record }, 'the evidence was restored into a sandbox');
      await answer(captureId, { ...request, state: 'Done', number: done.number });
    } catch (e) {
      log.warn({ err: e }, 'the restore did not complete');
      await answer(captureId, {
        ...request,
        state: 'Failed',
        reason: isAmberError(e) ? e.code : 'INTERNAL',
        message: (e as Error).message,
      });
    }
  };

  const seen = (capture: Capture): void => {
    if (stopped) return;
    for (const request of capture.status.restoreRequests ?? []) {
      if (taken.has(request.id)) continue;
      if (request.state === 'Running') {
        // not ours in this process: the agent before this one stopped during it
        taken.add(request.id);
        const interrupted = new AmberError('RESTORE_INTERRUPTED', { request: request.id });
        chain = chain.then(() => answer(capture.id, { ...request, state: 'Failed', reason: interrupted.code, message: interrupted.message }));
      } else if (request.state === 'Requested') {
        taken.add(request.id);
        chain = chain.then(() => run(capture.id, request));
      }
    }
  };
  const unsubscribe = p.queue.onChange(seen);
  return {
    // a restore under way is not waited for (a push can outlast the grace period): the next agent answers it RESTORE_INTERRUPTED
    stop() {
      stopped = true;
      unsubscribe();
    },
    idle: () => chain,
  };
}
