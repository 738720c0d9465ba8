import type { Capture, CaptureStatus, CaptureTarget, Phase } from '../core/capture.js';
import type { ExceededBudget } from '../core/capture-budget.js';
import { newCaptureId } from '../core/capture-id.js';
import type { CaptureKeys, PlannedCapture } from '../core/decision.js';

/**
 * What the responder asks to be captured; the queue assigns the id and the initial status.
 * At most one capture per `dedupeKey` per `cooldownMs`; a re-delivered signal (same
 * `deliveryKey`) is a duplicate whatever the cooldown.
 */
export type CaptureRequest = PlannedCapture;

export interface EnqueueResult {
  readonly capture: Capture;
  /** True when an existing capture already covers the request; `capture` is that one. */
  readonly duplicate: boolean;
  /**
   * True when the request joined a capture of the same container still Pending or Checkpointing
   * (core/join-capture.ts): its signal and policy were durably added to `capture`.
   */
  readonly joined?: boolean;
  /**
   * Set when the request was over a budget: `capture` is new, durable, and Failed with reason
   * BudgetExceeded (its signals kept, nothing checkpointed). Joins and duplicates consume no budget.
   */
  readonly overBudget?: ExceededBudget;
}

/** What a duplicate is answered with: the existing capture's id and target. */
export interface CaptureRef {
  readonly id: string;
  readonly target: CaptureTarget;
}

export interface ListOptions {
  readonly phase?: Phase | undefined;
  /** Newest first; at most this many. */
  readonly limit?: number | undefined;
}

/**
 * The durable capture queue. Implementations: the embedded file journal, and (in a cluster)
 * Capture custom resources.
 *
 * `enqueue` resolves only once the capture is durable (journal fsynced / resource created): that is
 * what a 202 promises. It rejects with AmberError `QUEUE_UNAVAILABLE` when it cannot persist.
 * Concurrent identical requests converge on one capture; a request for a container another
 * capture is about to checkpoint joins that capture (one freeze per container).
 */
export interface CaptureQueue {
  enqueue(request: CaptureRequest): Promise<EnqueueResult>;
  /**
   * Optional, for queues that can tell without I/O: the capture that `enqueue` would answer a
   * request with these keys with as a duplicate — its id and target when it is durable, a promise
   * of them while it is being written — or undefined when `enqueue` would queue a new one. The
   * responder asks before planning a capture, so a duplicate alert (most of a storm) costs no
   * plan, no digest and no wait. A hint only: `enqueue` decides.
   */
  existing?(keys: CaptureKeys): CaptureRef | Promise<CaptureRef> | undefined;
  get(id: string): Promise<Capture | undefined>;
  list(options?: ListOptions): Promise<Capture[]>;
  /** Durably replaces a capture's status (the capture pipeline's progress). */
  updateStatus(id: string, status: CaptureStatus): Promise<Capture>;
  /** Calls `listener` with each capture newly queued (after it is durable); returns an unsubscribe. */
  watch(listener: (capture: Capture) => void): () => void;
  /**
   * Optional: calls `listener` as soon as a new capture is accepted, before it is durable, with the
   * promise of its durability (`watch` follows once it holds). For preparation that changes
   * nothing outside this process: the worker reads the pod while the journal is flushed. Nothing
   * irreversible may start before `durable` resolves: a capture whose write fails never existed.
   */
  watchAccepted?(listener: (capture: Capture, durable: Promise<unknown>) => void): () => void;
  /** False while the queue cannot persist (then intake answers 503). */
  isReady(): boolean;
  /** Optional: why the queue is not ready, in a sentence (for /readyz); undefined when it is. */
  unready?(): string | undefined;
  /** Flushes what was accepted and releases the journal. */
  close(): Promise<void>;
}

/** A new capture for a request, as every queue stores it: a fresh id, Pending unless told otherwise. */
export function newCapture(request: CaptureRequest, now: number, overrides: { spec?: Capture['spec']; status?: CaptureStatus } = {}): Capture {
  const at = new Date(now).toISOString();
  return {
    id: newCaptureId(now),
    createdAt: at,
    dedupeKey: request.dedupeKey,
    ...(request.deliveryKey === undefined ? {} : { deliveryKey: request.deliveryKey }),
    cooldownMs: request.cooldownMs,
    spec: overrides.spec ?? request.spec,
    status: overrides.status ?? { phase: 'Pending', phaseTimes: { Pending: at }, attempts: 0 },
    signals: [...request.signals],
  };
}
