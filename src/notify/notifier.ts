import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Capture } from '../core/capture.js';
import { notificationOf, type Notification } from './notification.js';

/** What one attempt to deliver came to: sent, or not (retry it, or give it up: `rejected`). */
export type Delivery = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly reason: string; readonly retryAfterMs?: number };

/** One configured notification, ready to send (built by notify-settings.ts from the settings). */
export interface NotifyTarget {
  readonly name: string;
  readonly type: 'webhook' | 'slack' | 'kubernetes-event';
  readonly on: ReadonlySet<'sealed' | 'failed'>;
  /** Only these policies' captures; absent: any policy's. */
  readonly policies?: ReadonlySet<string>;
  /** Where it goes, as a log line may say it (no secret parts). */
  readonly where: string;
  send(notification: Notification, capture: Capture): Promise<Delivery>;
}

export interface NotifierOptions {
  readonly targets: readonly NotifyTarget[];
  /** Each policy's `spec.notify` (by policy name), where it has one: the only targets its captures go to. */
  readonly policyNotify: ReadonlyMap<string, readonly string[]>;
  readonly cluster: string;
  readonly log: Logger;
  readonly registry?: Registry;
  /** Notifications waiting or retrying at once; one more is dropped (logged, counted). */
  readonly queueLimit?: number;
  /** Attempts per notification before it is dropped (logged, counted). */
  readonly maxAttempts?: number;
  /** First retry delay, doubled per attempt, with full jitter; never above maxDelayMs… */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** …except a longer Retry-After, honoured up to this. */
  readonly maxRetryAfterMs?: number;
  /** Capture id + event pairs remembered as notified; the oldest are forgotten past this. */
  readonly rememberLimit?: number;
  readonly now?: () => Date;
}

interface Job {
  readonly key: string;
  readonly target: NotifyTarget;
  readonly notification: Notification;
  readonly capture: Capture;
  attempts: number;
}

/**
 * Sends the notifications of captures that end Sealed or Failed (the capture side's
 * `CaptureEvents`). `sealed`/`failed` only queue and return: delivery is asynchronous, retried
 * with backoff and jitter on connection errors, 5xx and 429 (Retry-After honoured), and bounded —
 * in queue length and in attempts — so a receiver that is down costs memory that is bounded and
 * never a capture. A capture id + event + target is queued at most once per process (the
 * remembered set is in memory: see README "Notifications" on restarts).
 */
export class Notifier {
  private readonly sentTotal: Counter<'name' | 'type'>;
  private readonly failedTotal: Counter<'name' | 'type' | 'reason'>;
  private readonly remembered = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private pending = 0;
  private closed = false;
  private readonly o: Required<Omit<NotifierOptions, 'registry'>>;

  constructor(options: NotifierOptions) {
    this.o = {
      queueLimit: 1000,
      maxAttempts: 8,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      maxRetryAfterMs: 300_000,
      rememberLimit: 100_000,
      now: () => new Date(),
      ...options,
    };
    const registers = options.registry ? [options.registry] : [];
    this.sentTotal = new Counter({ name: 'amber_notifications_sent_total', help: 'Notifications delivered', labelNames: ['name', 'type'], registers });
    this.failedTotal = new Counter({
      name: 'amber_notifications_failed_total',
      help: 'Notifications given up: rejected by the receiver, attempts exhausted, or the queue full',
      labelNames: ['name', 'type', 'reason'],
      registers,
    });
  }

  sealed(capture: Capture): void {
    this.enqueue(capture, 'sealed');
  }

  failed(capture: Capture): void {
    this.enqueue(capture, 'failed');
  }

  /** Resolves once nothing is queued or in flight (tests; an orderly stop may wait on it, bounded). */
  async idle(): Promise<void> {
    while (this.pending > 0) await new Promise((r) => setTimeout(r, 10));
  }

  /** Stops retrying: what is still queued is dropped (logged). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.timers.size > 0) this.o.log.warn({ dropped: this.timers.size }, 'notifications still waiting to retry are dropped at stop');
    this.pending -= this.timers.size;
    this.timers.clear();
  }

  private targetsFor(capture: Capture, on: 'sealed' | 'failed'): NotifyTarget[] {
    const policy = capture.spec.trigger.policy;
    const named = this.o.policyNotify.get(policy);
    return this.o.targets.filter((t) => t.on.has(on) && (named === undefined ? t.policies === undefined || t.policies.has(policy) : named.includes(t.name)));
  }

  private enqueue(capture: Capture, on: 'sealed' | 'failed'): void {
    if (this.closed) return;
    const notification = notificationOf(capture, this.o.cluster, this.o.now());
    if (notification === undefined) return;
    for (const target of this.targetsFor(capture, on)) {
      const key = `${notification.id}/${target.name}`;
      if (this.remembered.has(key)) {
        this.o.log.debug({ capture: capture.id, notification: target.name, event: notification.event }, 'already notified; not sent again');
        continue;
      }
      this.remember(key);
      if (this.pending >= this.o.queueLimit) {
        this.drop({ key, target, notification, capture, attempts: 0 }, 'queue_full');
        continue;
      }
      this.pending++;
      this.attempt({ key, target, notification, capture, attempts: 0 });
    }
  }

  private remember(key: string): void {
    this.remembered.add(key);
    if (this.remembered.size > this.o.rememberLimit) {
      // a Set iterates in insertion order: the first is the oldest
      const oldest = this.remembered.values().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }

  private attempt(job: Job): void {
    const run = this.deliver(job).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  private async deliver(job: Job): Promise<void> {
    job.attempts++;
    let result: Delivery;
    try {
      result = await job.target.send(job.notification, job.capture);
    } catch (e) {
      result = { ok: false, retry: true, reason: e instanceof Error ? e.message : String(e) };
    }
    const about = { capture: job.capture.id, notification: job.target.name, type: job.target.type, to: job.target.where, event: job.notification.event };
    if (result.ok) {
      this.pending--;
      this.sentTotal.inc({ name: job.target.name, type: job.target.type });
      this.o.log.info({ ...about, attempts: job.attempts }, 'notification sent');
      return;
    }
    if (!result.retry) return this.drop(job, 'rejected', result.reason, true);
    if (job.attempts >= this.o.maxAttempts) return this.drop(job, 'exhausted', result.reason, true);
    if (this.closed) return this.drop(job, 'stopped', result.reason, true);
    // full jitter under the doubling cap; a Retry-After is a floor (the receiver said when)
    const backoff = Math.random() * Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (job.attempts - 1));
    const delay = Math.max(backoff, Math.min(result.retryAfterMs ?? 0, this.o.maxRetryAfterMs));
    this.o.log.warn({ ...about, attempts: job.attempts, problem: result.reason, retryInMs: Math.round(delay) }, 'notification not delivered; will retry');
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.attempt(job);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private drop(job: Job, reason: 'queue_full' | 'rejected' | 'exhausted' | 'stopped', problem?: string, counted = false): void {
    if (counted) this.pending--;
    this.failedTotal.inc({ name: job.target.name, type: job.target.type, reason });
    this.o.log.error(
      {
        capture: job.capture.id,
        notification: job.target.name,
        type: job.target.type,
        to: job.target.where,
        event: job.notification.event,
        reason,
        problem,
        attempts: job.attempts,
      },
      'notification dropped',
    );
  }
}
