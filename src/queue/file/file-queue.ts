import { Compile } from 'typebox/compile';
import { AmberError } from '../../core/amber-error.js';
import { Capture, CaptureStatus, type Phase } from '../../core/capture.js';
import {
  archiveBytesOf,
  budgetExceededStatus,
  DAY_MS,
  exceededBudget,
  hasBudgets,
  hasNodeBudgets,
  isOverBudget,
  nodeOf,
  UNLIMITED,
  type BudgetLimits,
  type BudgetUse,
} from '../../core/capture-budget.js';
import type { CaptureKeys } from '../../core/decision.js';
import { canJoin, JOINABLE_PHASES, joinCapture, podKey, type JoinView } from '../../core/join-capture.js';
import { newCapture, type CaptureQueue, type CaptureRef, type CaptureRequest, type EnqueueResult, type ListOptions } from '../capture-queue.js';
import { JsonlJournal, type JournalPosition } from './jsonl-journal.js';

const checkCapture = Compile(Capture);
const checkStatus = Compile(CaptureStatus);
/** Captures read from disk at a time when listing. */
const LIST_READS = 32;

/**
 * What the queue keeps in memory of one capture: its keys, its phase, what a duplicate is answered
 * with, and where its records are on disk. The capture itself (signals, spec, status with its
 * artifacts and custody log) is read back from the journals when asked for, so memory grows by a
 * few hundred bytes per capture, not by the alert text and everything the pipeline recorded.
 */
interface Entry {
  readonly ref: CaptureRef;
  readonly dedupeKey: string;
  readonly deliveryKey: string | undefined;
  /** `capture.createdAt` in ms: the cooldown test runs on every duplicate. */
  readonly createdMs: number;
  phase: Phase;
  /** Until its record is on disk: the write. Duplicates and readers wait on it (then `at` is set). */
  writing: Promise<unknown> | undefined;
  /** Its record in captures.jsonl, once written. */
  at: JournalPosition | undefined;
  /** Its latest status record in status.jsonl, if the pipeline has written one. */
  statusAt: JournalPosition | undefined;
  /** What a join is decided on (target, containers, evidence); kept while the capture is joinable. */
  joinSpec: JoinView['spec'] | undefined;
  /** The joins being written, one after another; readers of the capture wait for them. */
  joining: Promise<unknown> | undefined;
  /** What it counts for in the budgets: undefined for a capture recorded over budget (it froze nothing). */
  budget: { createdMs: number; namespace: string; node: string | undefined; archiveBytes: number } | undefined;
}

/**
 * What a dedupe or delivery key points to: a capture, and since when (its creation, or the moment
 * the key's signal joined it). `writing` is set while the key's join is being written: a duplicate
 * waits for it, and `entry` may still change to a capture of its own if the join came too late.
 */
interface KeyRef {
  entry: Entry;
  ms: number;
  writing: Promise<unknown> | undefined;
}

export interface FileQueueOptions {
  /** `<data-dir>/journal` */
  readonly dir: string;
  readonly now?: () => number;
  /** Captures per hour, node, namespace; archive bytes per node per day (default: unlimited). */
  readonly budgets?: BudgetLimits;
  /**
   * The target's node, for the node budgets (`amber serve` reads the pod); undefined when it
   * cannot be told. Asked only when a node budget is set and the target names no node.
   */
  readonly nodeOf?: (target: Capture['spec']['target']) => Promise<string | undefined>;
}

/**
 * The embedded capture queue: a JSON-lines journal of new Capture records and one of status
 * updates (last one wins), replayed at open into an in-memory index of where each capture's
 * records are. Dedupe is decided synchronously in memory, so concurrent requests cannot double a
 * capture; the answer waits for the fsync, so 202 means durable.
 */
export class FileQueue implements CaptureQueue {
  private readonly byId = new Map<string, Entry>();
  /** Every entry in the order it was accepted (ids sort the same way, to the millisecond). */
  private readonly order: Entry[] = [];
  private readonly byDedupeKey = new Map<string, KeyRef>();
  private readonly byDeliveryKey = new Map<string, KeyRef>();
  /** Captures still Pending or Checkpointing, by `namespace/pod`: what a new signal may join. */
  private readonly joinable = new Map<string, Set<Entry>>();
  private readonly listeners = new Set<(capture: Capture) => void>();
  private readonly acceptListeners = new Set<(capture: Capture, durable: Promise<unknown>) => void>();
  /** The captures that consumed budget, in the order they were accepted: what a budget counts (newest last). */
  private readonly counted: Entry[] = [];

  private constructor(
    private readonly journal: JsonlJournal,
    /** Status updates go to a journal of their own, so an intake's fsync never queues behind them. */
    private readonly statusJournal: JsonlJournal,
    private readonly now: () => number,
    private readonly budgets: BudgetLimits = UNLIMITED,
    private readonly placeNode?: (target: Capture['spec']['target']) => Promise<string | undefined>,
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
    const queue = new FileQueue(journal, status.journal, options.now ?? Date.now, options.budgets, options.nodeOf);
    try {
      // Replay: every record is checked here, so a later read-back meets only checked records.
      // The captures are held until the end of the replay only (they may be rewritten below).
      const replayed = new Map<string, Capture>();
      for (const [i, { value, at }] of records.entries()) {
        const capture = (value as { capture?: unknown }).capture;
        if (!checkCapture.Check(capture)) {
          throw new AmberError('QUEUE_CORRUPT', { file: `${options.dir}/captures.jsonl`, line: i + 1, problem: 'not a Capture record' });
        }
        // A capture recorded twice (a join re-records it; older versions did too): the last one wins.
        const entry = queue.index(capture, undefined);
        entry.at = at;
        queue.indexJoins(entry, capture);
        queue.setPhase(entry, capture.status.phase);
        replayed.set(capture.id, capture);
      }
      for (const [i, { value, at }] of status.records.entries()) {
        const { id, status: next } = value as { id?: unknown; status?: unknown };
        const entry = typeof id === 'string' ? queue.byId.get(id) : undefined;
        const capture = entry && replayed.get(entry.ref.id);
        if (!entry || !capture || !checkStatus.Check(next)) {
          throw new AmberError('QUEUE_CORRUPT', { file: `${options.dir}/status.jsonl`, line: i + 1, problem: 'not a status of a known capture' });
        }
        replayed.set(capture.id, { ...capture, status: next });
        queue.setPhase(entry, next.phase);
        queue.noteUse(entry, next);
        entry.statusAt = at;
      }
      // Keep only the newest of each at start-up: merge statuses into the captures, then empty
      // the status journal (replaying it again after a crash in between is harmless).
      if (records.length + status.records.length > queue.byId.size * 2 + 64) {
        const entries = [...queue.byId.values()];
        const positions = await journal.compact(entries.map((e) => ({ v: 1, capture: replayed.get(e.ref.id) })));
        await status.journal.compact([]);
        for (const [i, e] of entries.entries()) {
          e.at = positions[i];
          e.statusAt = undefined;
        }
      }
    } catch (e) {
      await journal.close();
      await status.journal.close();
      throw e;
    }
    return queue;
  }

  private index(capture: Capture, durable: Promise<unknown> | undefined): Entry {
    const entry: Entry = {
      ref: { id: capture.id, target: capture.spec.target },
      dedupeKey: capture.dedupeKey,
      deliveryKey: capture.deliveryKey,
      createdMs: Date.parse(capture.createdAt),
      phase: capture.status.phase,
      writing: durable,
      at: undefined,
      statusAt: undefined,
      joinSpec: capture.spec,
      joining: undefined,
      budget: isOverBudget(capture.status)
        ? undefined
        : {
            createdMs: Date.parse(capture.createdAt),
            namespace: capture.spec.target.namespace,
            node: nodeOf(capture),
            archiveBytes: archiveBytesOf(capture.status),
          },
    };
    const previous = this.byId.get(capture.id);
    if (previous) {
      previous.joinSpec = capture.spec;
      return previous;
    }
    this.byId.set(capture.id, entry);
    this.order.push(entry);
    if (entry.budget) this.counted.push(entry);
    this.indexKeys({ dedupeKey: capture.dedupeKey, deliveryKey: capture.deliveryKey }, { entry, ms: entry.createdMs, writing: undefined });
    this.setPhase(entry, capture.status.phase);
    return entry;
  }

  /** The keys of the signals that joined a capture point to it, from the moment each joined. */
  private indexJoins(entry: Entry, capture: Capture): void {
    for (const j of capture.joined ?? []) this.indexKeys(j, { entry, ms: Date.parse(j.at), writing: undefined });
  }

  private indexKeys(keys: { dedupeKey: string; deliveryKey?: string | undefined }, ref: KeyRef): void {
    const current = this.byDedupeKey.get(keys.dedupeKey);
    if (!current || current.ms <= ref.ms) this.byDedupeKey.set(keys.dedupeKey, ref);
    if (keys.deliveryKey !== undefined) this.byDeliveryKey.set(keys.deliveryKey, ref);
  }

  private unindexKeys(keys: { dedupeKey: string; deliveryKey?: string | undefined }, ref: KeyRef, previous: KeyRef | undefined): void {
    if (this.byDedupeKey.get(keys.dedupeKey) === ref) {
      if (previous) this.byDedupeKey.set(keys.dedupeKey, previous);
      else this.byDedupeKey.delete(keys.dedupeKey);
    }
    if (keys.deliveryKey !== undefined && this.byDeliveryKey.get(keys.deliveryKey) === ref) this.byDeliveryKey.delete(keys.deliveryKey);
  }

  /** Keeps the index of joinable captures with the phase. */
  private setPhase(entry: Entry, phase: Phase): void {
    entry.phase = phase;
    const pod = podKey(entry.ref.target);
    const set = this.joinable.get(pod);
    if (JOINABLE_PHASES.has(phase)) {
      if (set) set.add(entry);
      else this.joinable.set(pod, new Set([entry]));
      return;
    }
    entry.joinSpec = undefined;
    if (set?.delete(entry) && set.size === 0) this.joinable.delete(pod);
  }

  /** A status tells where the capture ran and how large its sealed archives are: the budgets count them. */
  private noteUse(entry: Entry, status: CaptureStatus): void {
    if (!entry.budget) return;
    entry.budget.node = status.resolved?.node ?? entry.ref.target.node ?? entry.budget.node;
    entry.budget.archiveBytes = archiveBytesOf(status);
  }

  /** The budget uses of the last day, newest first (older ones are no longer looked at). */
  private *recentUses(now: number): Generator<BudgetUse> {
    for (let i = this.counted.length - 1; i >= 0; i--) {
      const use = (this.counted[i] as Entry).budget as BudgetUse;
      if (now - use.createdMs >= DAY_MS) return;
      yield use;
    }
  }

  private unindex(entry: Entry): void {
    const { ref, dedupeKey, deliveryKey } = entry;
    this.byId.delete(ref.id);
    const i = this.order.lastIndexOf(entry);
    if (i >= 0) this.order.splice(i, 1);
    const c = this.counted.lastIndexOf(entry);
    if (c >= 0) this.counted.splice(c, 1);
    if (this.byDedupeKey.get(dedupeKey)?.entry === entry) this.byDedupeKey.delete(dedupeKey);
    if (deliveryKey !== undefined && this.byDeliveryKey.get(deliveryKey)?.entry === entry) this.byDeliveryKey.delete(deliveryKey);
    const set = this.joinable.get(podKey(ref.target));
    if (set?.delete(entry) && set.size === 0) this.joinable.delete(podKey(ref.target));
  }

  private findDuplicate(request: CaptureKeys, now: number): KeyRef | undefined {
    if (request.deliveryKey !== undefined) {
      const same = this.byDeliveryKey.get(request.deliveryKey);
      if (same) return same;
    }
    const recent = this.byDedupeKey.get(request.dedupeKey);
    if (recent && now - recent.ms < request.cooldownMs) return recent;
    return undefined;
  }

  /** A capture of the same container that `request` may join (the oldest, so that joins converge on one). */
  private findHost(request: CaptureRequest): Entry | undefined {
    for (const entry of this.joinable.get(podKey(request.spec.target)) ?? []) {
      if (entry.joinSpec && canJoin({ spec: entry.joinSpec, status: { phase: entry.phase } }, request)) return entry;
    }
    return undefined;
  }

  existing(keys: CaptureKeys): CaptureRef | Promise<CaptureRef> | undefined {
    const ref = this.findDuplicate(keys, this.now());
    if (ref === undefined) return undefined;
    // A duplicate of a capture (or a join) still being written is only a duplicate once that write holds.
    const writing = ref.writing ?? ref.entry.writing;
    return writing ? writing.then(() => ref.entry.ref) : ref.entry.ref;
  }

  async enqueue(request: CaptureRequest): Promise<EnqueueResult> {
    // the node budgets need the target's node: learned before deciding (best-effort; unknown → they do not apply)
    const needsNode = hasNodeBudgets(this.budgets) && request.spec.target.node === undefined && this.placeNode !== undefined;
    const node = needsNode && this.existing(request) === undefined ? await this.placeNode?.(request.spec.target).catch(() => undefined) : undefined;
    const now = this.now();
    const duplicate = this.findDuplicate(request, now);
    if (duplicate !== undefined) {
      await (duplicate.writing ?? duplicate.entry.writing);
      return { capture: await this.load(duplicate.entry), duplicate: true };
    }
    if (!this.journal.healthy) throw new AmberError('QUEUE_UNAVAILABLE', { reason: 'journal write failed earlier' });
    const host = this.findHost(request);
    if (host === undefined) return this.create(request, now, undefined, node);
    // Decided here, synchronously: a duplicate of this signal arriving meanwhile waits for the join.
    const ref: KeyRef = { entry: host, ms: now, writing: undefined };
    const previous = this.byDedupeKey.get(request.dedupeKey);
    this.indexKeys(request, ref);
    const joining = (host.joining ?? Promise.resolve()).catch(() => undefined).then(() => this.join(host, request, now, ref));
    host.joining = joining;
    ref.writing = joining;
    try {
      return await joining;
    } catch (e) {
      this.unindexKeys(request, ref, previous); // not durable, so it never joined
      throw e;
    } finally {
      ref.writing = undefined;
      if (host.joining === joining) host.joining = undefined;
    }
  }

  /**
   * A new capture, durable before it is announced. `ref`: a key already pointing at a join that came too late.
   * The budgets are decided here, synchronously, from the captures in memory: one process owns the
   * journal, so no two requests can take the last slot. Over budget, the capture is recorded Failed
   * (BudgetExceeded) and counts for nothing.
   */
  private async create(request: CaptureRequest, now: number, ref?: KeyRef, node?: string): Promise<EnqueueResult> {
    const target = { namespace: request.spec.target.namespace, node: request.spec.target.node ?? node };
    const over = hasBudgets(this.budgets) ? exceededBudget(this.budgets, target, this.recentUses(now), now) : undefined;
    const capture =
      over === undefined ? newCapture(request, now) : newCapture(request, now, { status: budgetExceededStatus(over, new Date(now).toISOString()) });
    const written = this.journal.append({ v: 1, capture });
    const entry = this.index(capture, written);
    if (entry.budget && entry.budget.node === undefined) entry.budget.node = node;
    if (ref) ref.entry = entry;
    for (const listener of this.acceptListeners) listener(capture, written);
    try {
      entry.at = await written;
    } catch (e) {
      this.unindex(entry); // not durable, so it never existed
      throw e;
    } finally {
      entry.writing = undefined;
    }
    for (const listener of this.listeners) listener(capture);
    return over === undefined ? { capture, duplicate: false } : { capture, duplicate: false, overBudget: over };
  }

  /**
   * Records `request` as joined to `host`, re-recording the capture with its signals, joins and
   * merged spec. The phase is checked again now that earlier writes are done: a capture that has
   * moved on to Uploading meanwhile has its archive, and the request gets a capture of its own.
   */
  private async join(host: Entry, request: CaptureRequest, now: number, ref: KeyRef): Promise<EnqueueResult> {
    await host.writing;
    const current = await this.load(host);
    if (!this.byId.has(host.ref.id) || !canJoin(current, request)) return this.create(request, now, ref);
    // the record carries the status as it is now; later status records still win on replay
    const record = joinCapture(current, request, new Date(now).toISOString());
    host.at = await this.journal.append({ v: 1, capture: record });
    if (host.joinSpec) host.joinSpec = record.spec;
    return { capture: record, duplicate: false, joined: true };
  }

  /** The capture as last recorded (created, or re-recorded by a join), from the journal; callers have waited for its write. */
  private async record(entry: Entry): Promise<Capture> {
    if (entry.at === undefined) throw new AmberError('CAPTURE_NOT_FOUND', { id: entry.ref.id });
    return ((await this.journal.read(entry.at)) as { capture: Capture }).capture;
  }

  /** The capture with its latest status. */
  private async load(entry: Entry): Promise<Capture> {
    const [capture, status] = await Promise.all([this.record(entry), entry.statusAt && this.statusJournal.read(entry.statusAt)]);
    return status === undefined ? capture : { ...capture, status: (status as { status: CaptureStatus }).status };
  }

  async get(id: string): Promise<Capture | undefined> {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    await entry.writing?.catch(() => undefined);
    await entry.joining?.catch(() => undefined);
    return this.byId.has(id) ? await this.load(entry) : undefined;
  }

  async list(options: ListOptions = {}): Promise<Capture[]> {
    const limit = options.limit ?? 100;
    const chosen: Entry[] = [];
    // Newest first.
    for (let i = this.order.length - 1; i >= 0 && chosen.length < limit; i--) {
      const entry = this.order[i] as Entry;
      if (options.phase === undefined || entry.phase === options.phase) chosen.push(entry);
    }
    const out: Capture[] = [];
    for (let i = 0; i < chosen.length; i += LIST_READS) {
      const read = await Promise.all(chosen.slice(i, i + LIST_READS).map((e) => this.get(e.ref.id)));
      for (const capture of read) if (capture) out.push(capture);
    }
    return out;
  }

  async updateStatus(id: string, status: CaptureStatus): Promise<Capture> {
    const entry = this.byId.get(id);
    if (!entry) throw new AmberError('CAPTURE_NOT_FOUND', { id });
    await entry.writing;
    const at = await this.statusJournal.append({ v: 1, id, status });
    // Concurrent updates land in append order; the last one written is the status.
    if (entry.statusAt === undefined || at.offset > entry.statusAt.offset) {
      entry.statusAt = at;
      this.setPhase(entry, status.phase);
      this.noteUse(entry, status);
    }
    // A join decided before this status was written is part of the capture this answers with.
    await entry.joining?.catch(() => undefined);
    return { ...(await this.record(entry)), status };
  }

  watch(listener: (capture: Capture) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  watchAccepted(listener: (capture: Capture, durable: Promise<unknown>) => void): () => void {
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
