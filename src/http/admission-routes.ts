import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, onRequestHookHandler } from 'fastify';
import { AmberError } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import type { Caller } from '../core/signal.js';
import { AdmissionAnswer, AdmissionReview } from '../intake/admission-review.js';
import { normaliseAdmission } from '../intake/normalise-admission.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import { PolicyIndex } from '../policy/evaluate-policies.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import { admissionCaller, type AdmissionCallers } from './admission-caller.js';
import type { IntakeMetrics } from './intake-metrics.js';
import { ErrorAnswer } from './intake-routes.js';
import { respondToSignals, type ResponderDeps } from './respond-to-signals.js';

export interface AdmissionRouteOptions {
  readonly policies: readonly CompiledPolicy[];
  readonly queue: CaptureQueue;
  readonly metrics: IntakeMetrics;
  /** Who may call, and how each caller counts (admission-caller.ts). */
  readonly callers: AdmissionCallers;
  /** Policies may hold (holdUntil, holdDeletes) for an unauthenticated caller too. */
  readonly allowUnauthenticatedHolds: boolean;
  /** Reviews held at once; one more is answered at once (allowed). */
  readonly maxConcurrentHolds: number;
  /** How often a held answer looks at the capture again. */
  readonly pollMs?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** How the admission request's caller was authenticated (set before the body is read). */
    admissionCaller?: Caller;
  }
}

/** The webhook must answer within its timeoutSeconds (≤ 30): no hold may come near it. */
const HOLD_CEILING_MS = 25_000;

/**
 * `POST /v1/admission`: the validating webhook for exec/attach/debug (a signal for the policies)
 * and for pod deletion and eviction (the evidence hold). It allows everything, always within the
 * webhook timeout, except: with `admission.holdUntil: checkpointed` the answer to an exec waits
 * until the target's checkpoint is written (fail-open after maxWaitSeconds), and with
 * `admission.holdDeletes` a DELETE or eviction of a pod whose capture has not reached Uploading
 * is denied, naming the capture. Errors of amber's own never deny: the request is allowed and the
 * failure logged.
 *
 * It is served on a listener of its own (`--admission-listen`), never beside the alert intake. Its
 * caller is the API server, known by its client certificate (mTLS, `--admission-client-ca`), or —
 * where the operator allowed it — anyone (`unauthenticated`); a caller that is neither is refused
 * with 401 before its body is read, and queues nothing. Every signal records its caller, and what
 * the review says about the user and the command is recorded as that caller's assertion. Holds
 * need an authenticated caller unless the operator allowed them without (a hold keeps a
 * connection open, a denial blocks a deletion), and at most `maxConcurrentHolds` are held at once.
 */
export const admissionRoutes: FastifyPluginAsyncTypebox<AdmissionRouteOptions> = async (app, opts) => {
  const deps: ResponderDeps = { policies: opts.policies, index: new PolicyIndex(opts.policies), queue: opts.queue, metrics: opts.metrics };
  const byName = new Map(opts.policies.map((p) => [p.name, p]));
  const pollMs = opts.pollMs ?? 50;
  let holding = 0;
  const identify: onRequestHookHandler = (request, _reply, done) => {
    const caller = admissionCaller(request, opts.callers);
    if (caller === undefined) {
      done(new AmberError('AUTH_REQUIRED', { route: '/v1/admission', need: "the API server's client certificate" }));
      return;
    }
    request.admissionCaller = caller;
    done();
  };
  const mayHold = (caller: Caller) => caller === 'apiserver-mtls' || opts.allowUnauthenticatedHolds;

  app.post(
    '/v1/admission',
    {
      onRequest: identify,
      schema: {
        summary: 'Kubernetes validating admission webhook (AdmissionReview v1)',
        body: AdmissionReview,
        response: { 200: AdmissionAnswer, 400: ErrorAnswer, 401: ErrorAnswer, 413: ErrorAnswer, 415: ErrorAnswer, 422: ErrorAnswer },
      },
    },
    async (request) => {
      const caller = request.admissionCaller ?? 'unauthenticated';
      const review = request.body;
      const uid = review.request.uid;
      const answer = (allowed: boolean, extra: Partial<AdmissionAnswer['response']> = {}): AdmissionAnswer => ({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid, allowed, ...extra },
      });
      const log = request.log.child({
        admission: uid,
        operation: review.request.operation,
        resource: `pods/${review.request.subResource ?? ''}`,
        pod: `${review.request.namespace ?? ''}/${review.request.name ?? ''}`,
        caller,
      });
      try {
        const event = normaliseAdmission(review, request.rawBody, caller);
        if (event.kind === 'other') return answer(true);
        if (event.kind === 'removal') {
          if (!mayHold(caller)) return answer(true);
          return await holdRemoval(event.namespace, event.pod, byName, opts.queue, log).then((deny) => (deny ? answer(false, deny) : answer(true)));
        }
        if (event.dryRun) {
          log.debug('dry run: nothing is captured');
          return answer(true);
        }
        const outcome = await respondToSignals('admission', event.result, deps, log);
        const holdMs = Math.min(
          HOLD_CEILING_MS,
          Math.max(0, ...outcome.body.captures.map((c) => byName.get(c.policy)?.admission.holdUntilCheckpointedMs ?? 0)),
        );
        if (holdMs > 0) {
          const ids = outcome.body.captures.filter((c) => (byName.get(c.policy)?.admission.holdUntilCheckpointedMs ?? 0) > 0).map((c) => c.id);
          if (!mayHold(caller)) {
            opts.metrics.countHoldSkipped('unauthenticated');
            log.warn({ captures: ids }, 'an unauthenticated caller is never held: answering at once (allowed)');
            return answer(true);
          }
          if (holding >= opts.maxConcurrentHolds) {
            opts.metrics.countHoldSkipped('limit');
            log.warn(
              { captures: ids, holding, maxConcurrentHolds: opts.maxConcurrentHolds },
              'too many admission reviews held at once: answering at once (allowed)',
            );
            return answer(true);
          }
          holding++;
          const started = Date.now();
          try {
            const done = await waitForCheckpoints(opts.queue, ids, holdMs, pollMs);
            if (done) log.info({ captures: ids, heldMs: Date.now() - started }, 'exec held until the checkpoint was written');
            else log.warn({ captures: ids, heldMs: Date.now() - started }, 'checkpoint not written within maxWaitSeconds: allowing (fail-open)');
          } finally {
            holding--;
          }
        }
        return answer(true);
      } catch (err) {
        // fail-open: a webhook that denies on its own errors would lock operators out
        log.error({ err }, 'admission request could not be processed; allowing it');
        return answer(true, { warnings: ['amber could not process this request; it was allowed'] });
      }
    },
  );
};

/** True once every capture has its checkpoint written (or has ended); false when time ran out. */
async function waitForCheckpoints(queue: CaptureQueue, ids: readonly string[], holdMs: number, pollMs: number): Promise<boolean> {
  const until = Date.now() + holdMs;
  for (;;) {
    const captures = await Promise.all(ids.map((id) => queue.get(id)));
    if (captures.every((c) => c === undefined || checkpointed(c))) return true;
    if (Date.now() + pollMs > until) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function checkpointed(c: Capture): boolean {
  const p = c.status.phase;
  return p === 'Uploading' || p === 'Sealed' || p === 'Failed' || (c.status.checkpoints ?? []).length > 0;
}

/** A denial when a held capture of this pod has not reached Uploading within its timeout. */
async function holdRemoval(
  namespace: string,
  pod: string,
  policies: ReadonlyMap<string, CompiledPolicy>,
  queue: CaptureQueue,
  log: FastifyBaseLogger,
): Promise<{ status: { code: number; reason: string; message: string } } | undefined> {
  if (![...policies.values()].some((p) => p.admission.holdDeletes)) return undefined;
  const now = Date.now();
  const open = [...(await queue.list({ phase: 'Pending', limit: 500 })), ...(await queue.list({ phase: 'Checkpointing', limit: 500 }))];
  // the capture's own policy, or one whose signal joined it
  const holdingPolicy = (c: Capture) =>
    [c.spec.trigger.policy, ...(c.joined ?? []).map((j) => j.trigger.policy)].find((p) => policies.get(p)?.admission.holdDeletes === true);
  const holding = open.find(
    (c) =>
      c.spec.target.namespace === namespace &&
      c.spec.target.pod === pod &&
      holdingPolicy(c) !== undefined &&
      now < Date.parse(c.createdAt) + c.spec.timeoutSeconds * 1000,
  );
  if (!holding) return undefined;
  const until = new Date(Date.parse(holding.createdAt) + holding.spec.timeoutSeconds * 1000).toISOString();
  log.warn({ capture: holding.id, until }, 'removal of a pod under evidence hold denied');
  return {
    status: {
      code: 403,
      reason: 'Forbidden',
      message: `amber is preserving evidence of ${namespace}/${pod}: capture ${holding.id} (policy ${holdingPolicy(holding)}) is ${holding.status.phase}; the hold ends when it reaches Uploading, at the latest ${until}`,
    },
  };
}
