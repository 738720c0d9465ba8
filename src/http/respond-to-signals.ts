import type { FastifyBaseLogger } from 'fastify';
import Type, { type Static } from 'typebox';
import { CaptureTarget, type Capture } from '../core/capture.js';
import type { ExceededBudget } from '../core/capture-budget.js';
import { captureKeys, planCapture, type Decision } from '../core/decision.js';
import type { Signal, Source } from '../core/signal.js';
import type { IntakeResult } from '../intake/intake-result.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import { evaluatePolicies, type PolicyIndex } from '../policy/evaluate-policies.js';
import type { CaptureQueue, CaptureRef } from '../queue/capture-queue.js';
import type { IntakeMetrics } from './intake-metrics.js';

export const IntakeAnswer = Type.Object({
  captures: Type.Array(
    Type.Object({
      id: Type.String(),
      policy: Type.String(),
      target: CaptureTarget,
      duplicate: Type.Boolean(),
      /** the signal joined a capture of the same container that was not yet checkpointed (one freeze per container) */
      joined: Type.Optional(Type.Boolean()),
      /** the capture is recorded but Failed (BudgetExceeded): this budget was used up, nothing is checkpointed */
      budgetExceeded: Type.Optional(Type.String()),
    }),
  ),
  reason: Type.Optional(Type.String()),
});
export type IntakeAnswer = Static<typeof IntakeAnswer>;

export interface ResponderDeps {
  readonly policies: readonly CompiledPolicy[];
  /** `policies`, indexed by rule name (the intake routes build it once); scanned in full when absent. */
  readonly index?: PolicyIndex | undefined;
  readonly queue: CaptureQueue;
  readonly metrics: IntakeMetrics;
}

type Answer = IntakeAnswer['captures'][number];
type Outcome = { status: 200 | 202; body: IntakeAnswer };
/** What the queue answered: the capture it made (or, from `enqueue`, the one it had), or the existing one's reference. */
type Queued = { capture: Capture | CaptureRef; duplicate: boolean; joined?: boolean | undefined; overBudget?: ExceededBudget | undefined };

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

const NO_MATCH = 'no policy matched';
const DUPLICATE = 'duplicate of an existing capture';

/**
 * Matches each signal against the policies and queues a capture per decision.
 * 202 when at least one new capture is durable; 200 when nothing new was queued (with a reason).
 * A queue failure propagates (QUEUE_UNAVAILABLE → 503): nothing is acknowledged that is not on disk.
 * The answer comes at once, not as a promise, when nothing had to wait: an alert that matched no
 * policy, or one whose capture the queue already holds on disk (the duplicates of a storm).
 */
export function respondToSignals(source: Source, result: IntakeResult, deps: ResponderDeps, log: FastifyBaseLogger): Outcome | Promise<Outcome> {
  const signal = result.signals[0];
  // A Falco event is always one signal: it gets a straight-line path (no per-signal closures,
  // no Promise.all, no reason set): that bookkeeping was most of what this function cost.
  if (signal !== undefined && result.signals.length === 1 && result.ignored.length === 0) return respondToOne(signal, deps, log);
  return respondToMany(source, result, deps, log);
}

function evaluate(deps: ResponderDeps, signal: Signal): Decision[] {
  return deps.index ? deps.index.evaluate(signal) : evaluatePolicies(deps.policies, signal);
}

/** pino loggers say which levels are on; a logger that cannot say is assumed to log everything. */
function enabled(log: FastifyBaseLogger, level: 'debug' | 'info'): boolean {
  const probe = (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  return typeof probe === 'function' ? probe.call(log, level) : true;
}

function about(signal: Signal): Record<string, unknown> {
  return { source: signal.source, rule: signal.rule, priority: signal.priority, target: signal.target };
}

/**
 * The queue's answer for one decision: the existing capture when the queue can tell at once that
 * there is one (no plan made, no digest computed), else whatever `enqueue` makes of the plan.
 */
function enqueue(d: Decision, queue: CaptureQueue): Queued | Promise<Queued> {
  const keys = captureKeys(d);
  const existing = queue.existing?.(keys);
  if (existing === undefined) return queue.enqueue(planCapture(d, keys));
  return isPromise(existing) ? existing.then((capture) => ({ capture, duplicate: true })) : { capture: existing, duplicate: true };
}

/** Queues one decision's capture, counts it and logs it. */
async function queueOne(d: Decision, deps: ResponderDeps, log: FastifyBaseLogger): Promise<Answer> {
  deps.metrics.countMatch(d.policy);
  return settled(d, await enqueue(d, deps.queue), deps, log);
}

/** Counts and logs what the queue made of a decision (duplicates at debug: a storm must not become a storm of log lines). */
function settled(d: Decision, { capture, duplicate, joined, overBudget }: Queued, deps: ResponderDeps, log: FastifyBaseLogger): Answer {
  if (overBudget !== undefined) {
    deps.metrics.countOverBudget(overBudget.budget);
    // one line per capture refused: a storm over budget is worth seeing (the alert is kept in the capture)
    log.warn(
      {
        ...about(d.signal),
        policy: d.policy,
        capture: capture.id,
        budget: overBudget.budget,
        limit: overBudget.limit,
        window: overBudget.window,
        scope: overBudget.scope,
      },
      'capture over budget: recorded as Failed (BudgetExceeded), not checkpointed',
    );
    const target = 'spec' in capture ? capture.spec.target : capture.target;
    return { id: capture.id, policy: d.policy, target, duplicate, budgetExceeded: overBudget.budget };
  }
  if (duplicate) {
    deps.metrics.countDuplicate(d.policy);
    if (enabled(log, 'debug')) log.debug({ ...about(d.signal), policy: d.policy, capture: capture.id }, 'duplicate of a queued capture');
  } else if (joined === true) {
    deps.metrics.countJoined(d.policy);
    if (enabled(log, 'info'))
      log.info({ ...about(d.signal), policy: d.policy, capture: capture.id }, 'signal joined a capture of the same container (one freeze per container)');
  } else {
    deps.metrics.countQueued(d.policy);
    if (enabled(log, 'info')) log.info({ ...about(d.signal), policy: d.policy, capture: capture.id }, 'capture queued');
  }
  const target = 'spec' in capture ? capture.spec.target : capture.target;
  return joined === true ? { id: capture.id, policy: d.policy, target, duplicate, joined } : { id: capture.id, policy: d.policy, target, duplicate };
}

function respondToOne(signal: Signal, deps: ResponderDeps, log: FastifyBaseLogger): Outcome | Promise<Outcome> {
  const { metrics } = deps;
  const failed = (e: unknown): never => {
    metrics.countSignal(signal.source, 'failed');
    throw e;
  };
  try {
    const decisions = evaluate(deps, signal);
    if (decisions.length === 0) {
      metrics.countSignal(signal.source, 'unmatched');
      if (enabled(log, 'info')) log.info(about(signal), 'signal matched no policy');
      return { status: 200, body: { captures: [], reason: NO_MATCH } };
    }
    const only = decisions.length === 1 ? (decisions[0] as Decision) : undefined;
    if (only === undefined)
      return Promise.all(decisions.map((d) => queueOne(d, deps, log)))
        .then((captures) => outcome(signal, captures, deps))
        .catch(failed);
    // queueOne inlined, and no promise at all when the queue answers at once.
    metrics.countMatch(only.policy);
    const queued = enqueue(only, deps.queue);
    const answerFor = (queued: Queued) => outcome(signal, [settled(only, queued, deps, log)], deps);
    return isPromise(queued) ? queued.then(answerFor).catch(failed) : answerFor(queued);
  } catch (e) {
    return failed(e);
  }
}

function outcome(signal: Signal, captures: Answer[], deps: ResponderDeps): Outcome {
  const fresh = captures.some((a) => !a.duplicate);
  deps.metrics.countSignal(signal.source, fresh ? 'queued' : 'duplicate');
  return fresh ? { status: 202, body: { captures } } : { status: 200, body: { captures, reason: DUPLICATE } };
}

/** Any number of signals and ignored events (an Alertmanager batch). */
async function respondToMany(source: Source, result: IntakeResult, deps: ResponderDeps, log: FastifyBaseLogger): Promise<Outcome> {
  const { metrics } = deps;
  const reasons = new Set(result.ignored.map((i) => i.reason));
  for (const ignored of result.ignored) log.info({ index: ignored.index, reason: ignored.reason }, 'signal ignored');

  const work = result.signals.map(async (signal) => {
    const decisions = evaluate(deps, signal);
    if (decisions.length === 0) {
      metrics.countSignal(signal.source, 'unmatched');
      reasons.add(NO_MATCH);
      log.info(about(signal), 'signal matched no policy');
      return [];
    }
    const answers = await Promise.all(decisions.map((d) => queueOne(d, deps, log)));
    const fresh = answers.some((a) => !a.duplicate);
    metrics.countSignal(signal.source, fresh ? 'queued' : 'duplicate');
    if (!fresh) reasons.add(DUPLICATE);
    return answers;
  });
  let captures: IntakeAnswer['captures'];
  try {
    captures = (await Promise.all(work)).flat();
  } catch (e) {
    for (const s of result.signals) metrics.countSignal(s.source, 'failed');
    throw e;
  }
  if (result.ignored.length > 0) metrics.countSignal(source, 'ignored', result.ignored.length);
  const queued = captures.some((c) => !c.duplicate);
  return {
    status: queued ? 202 : 200,
    body: queued || reasons.size === 0 ? { captures } : { captures, reason: [...reasons].join('; ') },
  };
}
