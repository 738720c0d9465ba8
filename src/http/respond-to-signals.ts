import type { FastifyBaseLogger } from 'fastify';
import Type, { type Static } from 'typebox';
import { CaptureTarget } from '../core/capture.js';
import { planCapture } from '../core/decision.js';
import type { Source } from '../core/signal.js';
import type { IntakeResult } from '../intake/intake-result.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import { evaluatePolicies } from '../policy/evaluate-policies.js';
import type { CaptureQueue } from '../queue/capture-queue.js';
import type { IntakeMetrics } from './intake-metrics.js';

export const IntakeAnswer = Type.Object({
  captures: Type.Array(
    Type.Object({ id: Type.String(), policy: Type.String(), target: CaptureTarget, duplicate: Type.Boolean() }),
  ),
  reason: Type.Optional(Type.String()),
});
export type IntakeAnswer = Static<typeof IntakeAnswer>;

export interface ResponderDeps {
  readonly policies: readonly CompiledPolicy[];
  readonly queue: CaptureQueue;
  readonly metrics: IntakeMetrics;
}

/**
 * Matches each signal against the policies and queues a capture per decision.
 * 202 when at least one new capture is durable; 200 when nothing new was queued (with a reason).
 * A queue failure propagates (QUEUE_UNAVAILABLE → 503): nothing is acknowledged that is not on disk.
 */
export async function respondToSignals(
  source: Source,
  result: IntakeResult,
  deps: ResponderDeps,
  log: FastifyBaseLogger,
): Promise<{ status: 200 | 202; body: IntakeAnswer }> {
  const { metrics } = deps;
  const reasons = new Set(result.ignored.map((i) => i.reason));
  for (const ignored of result.ignored) log.info({ index: ignored.index, reason: ignored.reason }, 'signal ignored');

  const work = result.signals.map(async (signal) => {
    const decisions = evaluatePolicies(deps.policies, signal);
    const about = { source: signal.source, rule: signal.rule, priority: signal.priority, target: signal.target };
    if (decisions.length === 0) {
      metrics.signals.inc({ source: signal.source, outcome: 'unmatched' });
      reasons.add('no policy matched');
      log.info(about, 'signal matched no policy');
      return [];
    }
    const answers = await Promise.all(
      decisions.map(async (d) => {
        metrics.policyMatches.inc({ policy: d.policy });
        const { capture, duplicate } = await deps.queue.enqueue(planCapture(d));
        (duplicate ? metrics.duplicates : metrics.capturesQueued).inc({ policy: d.policy });
        // A storm of duplicates must not become a storm of log lines: they are counted in metrics.
        if (duplicate) log.debug({ ...about, policy: d.policy, capture: capture.id }, 'duplicate of a queued capture');
        else log.info({ ...about, policy: d.policy, capture: capture.id }, 'capture queued');
        return { id: capture.id, policy: d.policy, target: capture.spec.target, duplicate };
      }),
    );
    const fresh = answers.some((a) => !a.duplicate);
    metrics.signals.inc({ source: signal.source, outcome: fresh ? 'queued' : 'duplicate' });
    if (!fresh) reasons.add('duplicate of an existing capture');
    return answers;
  });
  let captures: IntakeAnswer['captures'];
  try {
    captures = (await Promise.all(work)).flat();
  } catch (e) {
    for (const s of result.signals) metrics.signals.inc({ source: s.source, outcome: 'failed' });
    throw e;
  }
  if (result.ignored.length > 0) metrics.signals.inc({ source, outcome: 'ignored' }, result.ignored.length);
  const queued = captures.some((c) => !c.duplicate);
  return {
    status: queued ? 202 : 200,
    body: queued || reasons.size === 0 ? { captures } : { captures, reason: [...reasons].join('; ') },
  };
}
