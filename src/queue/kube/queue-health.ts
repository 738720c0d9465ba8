import type { Logger } from 'pino';
import { apiFailure, describeFailure, retryDelayMs, type ApiFailure, type Backoff } from '../../kube/api-failure.js';
import { queueError } from './queue-error.js';

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 30_000 };

/** A call that answered, or how it failed (the facts, never client-node's error itself). */
export type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: ApiFailure };

/**
 * How the API server has been answering the Capture queue. Every call goes through here: 429, 5xx
 * and lost connections make the queue unhealthy until a call succeeds, and the last such answer is
 * what /readyz says. The list and watch loops wait here between failures, with backoff, and wake
 * at once when the queue closes.
 */
export class QueueHealth {
  private healthy = true;
  /** a list of Captures has succeeded: until then the queue is not ready */
  private listed = false;
  /** the last transient failure, for /readyz */
  private lastFailure: string | undefined;
  private closing = false;
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly log: Logger,
    private readonly backoff: Backoff,
  ) {}

  get closed(): boolean {
    return this.closing;
  }

  get hasListed(): boolean {
    return this.listed;
  }

  /** A list of Captures succeeded: the queue can be ready. */
  markListed(): void {
    this.listed = true;
  }

  /** One API call, and what became of it. */
  async attempt<T>(what: string, fn: () => Promise<T>): Promise<Attempt<T>> {
    try {
      const value = await fn();
      this.healthy = true;
      return { ok: true, value };
    } catch (e) {
      const failure = apiFailure(e);
      if (failure.transient) {
        this.healthy = false;
        this.lastFailure = `${what}: ${describeFailure(failure)}`;
      }
      return { ok: false, failure };
    }
  }

  /** One API call; a failure throws the queue's error for it (queue-error.ts), with the facts. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const done = await this.attempt(what, fn);
    if (!done.ok) throw queueError(what, done.failure);
    return done.value;
  }

  /**
   * Logs one line for the `attempt`-th failure in a row of a list or watch, and says how long to
   * wait: the backoff step with jitter, or the server's Retry-After when that is longer.
   */
  failed(what: 'list' | 'watch', f: ApiFailure, attempt: number): number {
    const delayMs = retryDelayMs(attempt, this.backoff, f.retryAfterSeconds);
    if (what === 'watch' && f.transient) this.lastFailure = `watch: ${describeFailure(f)}`;
    const fields = {
      what,
      ...(f.status !== undefined ? { status: f.status } : {}),
      problem: f.message,
      ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}),
      attempt,
      retryInMs: delayMs,
    };
    const msg = what === 'list' ? 'Capture list failed; retrying' : 'Capture watch failed; watching again';
    // a refusal (403) or a missing CRD (404) will not pass by itself: someone has to act
    if (f.transient) this.log.warn(fields, msg);
    else this.log.error(fields, msg);
    return delayMs;
  }

  /** A watch that failed without an answer to describe (client-node's Watch error, or none). */
  watchFailed(error: unknown, attempt: number): number {
    return this.failed('watch', apiFailure(error), attempt);
  }

  /** Waits, or less if the queue is closed meanwhile. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  isReady(): boolean {
    return this.listed && this.healthy && !this.closing;
  }

  /** Why the queue is not ready, for /readyz; undefined when it is. */
  unready(): string | undefined {
    if (this.closing) return 'closing';
    const last = this.lastFailure !== undefined ? ` (last answer: ${this.lastFailure})` : '';
    if (!this.listed) return `waiting for the first list of Captures to succeed${last}`;
    return this.healthy ? undefined : `the API server failed the last request${last}`;
  }

  /** The queue is closing: nothing waits any more. */
  close(): void {
    this.closing = true;
    for (const wake of [...this.sleepers]) wake();
  }
}
