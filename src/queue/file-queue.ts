import { Compile } from 'typebox/compile';
import { AmberError } from '../core/amber-error.js';
import { Capture, type CaptureStatus } from '../core/capture.js';
import type { CaptureKeys } from '../core/decision.js';
import { newCapture, type CaptureQueue, type CaptureRequest, type EnqueueResult, type ListOptions } from './capture-queue.js';
import { JsonlJournal } from './jsonl-journal.js';

const checkCapture = Compile(Capture);

interface Entry {
  capture: Capture;
  /** `capture.createdAt` in ms: the cooldown test runs on every duplicate. */
  readonly createdMs: number;
  /** Settles when the capture's first record is on disk; duplicates wait on it too. */
  durable: Promise<void>;
  /** True once `durable` has resolved: a duplicate can then be answered without waiting. */
  onDisk: boolean;
}

export interface FileQueueOptions {
  /** `<data-dir>/journal` */
  readonly dir: string;
  readonly now?: () => number;
}

/**
 * The embedded capture queue: a JSON-lines journal of new Capture records and one of status
 * updates (last one wins),
 * replayed into memory at open. Dedupe is decided synchronously in memory, so concurrent
 * requests cannot double a capture; the answer waits for the fsync, so 202 means durable.
 */
export class FileQueue implements CaptureQueue {
  private readonly byId = new Map<string, Entry>();
  private readonly byDedupeKey = new Map<string, Entry>();
  private readonly byDeliveryKey = new Map<string, Entry>();
  private readonly listeners = new Set<(capture: Capture) => void>();
  private readonly acceptListeners = new Set<(capture: Capture, durable: Promise<void>) => void>();

  private constructor(
    private readonly journal: JsonlJournal,
    /** Status updates go to a journal of their own, so an intake's fsync never queues behind them. */
    private readonly statusJournal: JsonlJournal,
    private readonly now: () => number,
  ) {}

  static async open(options: FileQueueOptions): Promise<FileQueue> {
    const { journal, records } = await JsonlJournal.open(options.dir, 'captures.jsonl');
    let status: Awaited<ReturnType<typeof JsonlJournal.open>>;
    try {
      status = await JsonlJournal.open(options.dir, 'status.jsonl', 'status.LOCK');
    } catch (e) {
      await journal.close();
      throw e;
    }
    const queue = new FileQueue(journal, status.journal, options.now ?? Date.now);
    try {
      for (const [i, record] of records.entries()) {
        const capture = (record as { capture?: unknown }).capture;
        if (!checkCapture.Check(capture)) {
          throw new AmberError('QUEUE_CORRUPT', { file: `${options.dir}/captures.jsonl`, line: i + 1, problem: 'not a Capture record' });
        }
        queue.index(capture, Promise.resolve()).onDisk = true;
      }
      for (const [i, record] of status.records.entries()) {
        const { id, status: next } = record as { id?: unknown; status?: unknown };
        const entry = typeof id === 'string' ? queue.byId.get(id) : undefined;
        const updated = entry ? { ...entry.capture, status: next } : undefined;
        if (!updated || !checkCapture.Check(updated)) {
          throw new AmberError('QUEUE_CORRUPT', { file: `${options.dir}/status.jsonl`, line: i + 1, problem: 'not a status of a known capture' });
        }
        (entry as Entry).capture = updated;
      }
      // Keep only the newest of each at start-up: merge statuses into the captures, then empty
      // the status journal (replaying it again after a crash in between is harmless).
      if (records.length + status.records.length > queue.byId.size * 2 + 64) {
        await journal.compact([...queue.byId.values()].map((e) => ({ v: 1, capture: e.capture })));
        await status.journal.compact([]);
      }
    } catch (e) {
      await journal.close();
      await status.journal.close();
      throw e;
    }
    return queue;
  }

  private index(capture: Capture, durable: Promise<void>): Entry {
    const entry: Entry = { capture, durable, createdMs: Date.parse(capture.createdAt), onDisk: false };
    const previous = this.byId.get(capture.id);
    if (previous) {
      previous.capture = capture;
      return previous;
    }
    this.byId.set(capture.id, entry);
    const current = this.byDedupeKey.get(capture.dedupeKey);
    if (!current || current.capture.createdAt <= capture.createdAt) this.byDedupeKey.set(capture.dedupeKey, entry);
    if (capture.deliveryKey !== undefined) this.byDeliveryKey.set(capture.deliveryKey, entry);
    return entry;
  }

  private unindex(entry: Entry): void {
    const { id, dedupeKey, deliveryKey } = entry.capture;
    this.byId.delete(id);
    if (this.byDedupeKey.get(dedupeKey) === entry) this.byDedupeKey.delete(dedupeKey);
    if (deliveryKey !== undefined && this.byDeliveryKey.get(deliveryKey) === entry) this.byDeliveryKey.delete(deliveryKey);
  }

  private findDuplicate(request: CaptureKeys, now: number): Entry | undefined {
    if (request.deliveryKey !== undefined) {
      const same = this.byDeliveryKey.get(request.deliveryKey);
      if (same) return same;
    }
    const recent = this.byDedupeKey.get(request.dedupeKey);
    if (recent && now - recent.createdMs < request.cooldownMs) return recent;
    return undefined;
  }

  existing(keys: CaptureKeys): Capture | Promise<Capture> | undefined {
    const entry = this.findDuplicate(keys, this.now());
    if (entry === undefined || entry.onDisk) return entry?.capture;
    // A duplicate of a capture still being written is only a duplicate once that write holds.
    return entry.durable.then(() => entry.capture);
  }

  async enqueue(request: CaptureRequest): Promise<EnqueueResult> {
    const existing = this.existing(request);
    if (existing !== undefined) return { capture: await existing, duplicate: true };
    const now = this.now();
    if (!this.journal.healthy) throw new AmberError('QUEUE_UNAVAILABLE', { reason: 'journal write failed earlier' });
    const capture = newCapture(request, now);
    const durable = this.journal.append({ v: 1, capture });
    const entry = this.index(capture, durable);
    for (const listener of this.acceptListeners) listener(capture, durable);
    try {
      await durable;
    } catch (e) {
      this.unindex(entry); // not durable, so it never existed
      throw e;
    }
    entry.onDisk = true;
    for (const listener of this.listeners) listener(capture);
    return { capture, duplicate: false };
  }

  async get(id: string): Promise<Capture | undefined> {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    await entry.durable.catch(() => undefined);
    return this.byId.has(id) ? entry.capture : undefined;
  }

  async list(options: ListOptions = {}): Promise<Capture[]> {
    const limit = options.limit ?? 100;
    const out: Capture[] = [];
    // Ids sort by creation time; newest first.
    for (const id of [...this.byId.keys()].sort().reverse()) {
      const capture = this.byId.get(id)?.capture;
      if (!capture || (options.phase !== undefined && capture.status.phase !== options.phase)) continue;
      out.push(capture);
      if (out.length >= limit) break;
    }
    return out;
  }

  async updateStatus(id: string, status: CaptureStatus): Promise<Capture> {
    const entry = this.byId.get(id);
    if (!entry) throw new AmberError('CAPTURE_NOT_FOUND', { id });
    await entry.durable;
    const capture: Capture = { ...entry.capture, status };
    await this.statusJournal.append({ v: 1, id, status });
    entry.capture = capture;
    return capture;
  }

  watch(listener: (capture: Capture) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  watchAccepted(listener: (capture: Capture, durable: Promise<void>) => void): () => void {
    this.acceptListeners.add(listener);
    return () => this.acceptListeners.delete(listener);
  }

  isReady(): boolean {
    return this.journal.healthy && this.statusJournal.healthy;
  }

  async close(): Promise<void> {
    await this.journal.close();
    await this.statusJournal.close();
  }
}
