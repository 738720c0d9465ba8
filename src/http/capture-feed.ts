import type { FastifyBaseLogger } from 'fastify';
import type { Capture } from '../core/capture.js';
import type { CaptureQueue } from '../queue/capture-queue.js';

export type CaptureSummary = Omit<Capture, 'signals'>;

/**
 * Captures as they change, for the evidence browser's live list (server-sent events). One poll of
 * the queue a second while anyone listens, whatever the number of listeners, and none when nobody
 * does: the file journal and the Capture resources both answer `list`, and only the kube queue
 * could watch status changes, so polling is the one way that works for both.
 */
export class CaptureFeed {
  private readonly listeners = new Set<(c: CaptureSummary) => void>();
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly opts: { queue: CaptureQueue; log: FastifyBaseLogger; intervalMs?: number; window?: number }) {}

  /** Calls `listener` with every capture that changes from now on; returns the unsubscribe. */
  subscribe(listener: (c: CaptureSummary) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      // the first poll only learns what is there: changes are what comes after
      void this.poll(false);
      this.timer = setInterval(() => void this.poll(true), this.opts.intervalMs ?? 1000);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.seen.clear();
  }

  private async poll(tell: boolean): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const captures = await this.opts.queue.list({ limit: this.opts.window ?? 200 });
      for (const { signals: _signals, ...c } of captures) {
        const mark = JSON.stringify([
          c.status.phase,
          c.status.attempts,
          c.status.phaseTimes,
          c.status.report?.state,
          c.status.restores?.length,
          c.status.reason,
        ]);
        if (this.seen.get(c.id) === mark) continue;
        this.seen.set(c.id, mark);
        if (tell) for (const l of this.listeners) l(c);
      }
    } catch (err) {
      // best-effort: the next poll tries again; the page keeps what it has
      this.opts.log.warn({ err }, 'the live capture list could not read the queue');
    } finally {
      this.polling = false;
    }
  }
}
