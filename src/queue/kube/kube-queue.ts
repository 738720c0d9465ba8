import type { Logger } from 'pino';
import { AmberError, isAmberError } from '../../core/amber-error.js';
import type { Capture, CaptureStatus } from '../../core/capture.js';
import { podKey } from '../../core/join-capture.js';
import { KeyedLanes } from '../../core/keyed-lanes.js';
import type { Backoff } from '../../kube/api-failure.js';
import type { KubeConfig } from '../../kube/kube-api.js';
import { captureApi, type CaptureApi } from '../../kube/capture-api.js';
import { ANNOTATIONS, captureName, digest40, fromResource, LABELS, toResource, type CaptureResource } from '../../kube/capture-resource.js';
import { newCapture, type CaptureQueue, type CaptureRequest, type EnqueueResult, type ListOptions } from '../capture-queue.js';
import { joinCaptureResource, joinedDuplicate, joinHosts, type CaptureResourceAccess } from './join-capture-resource.js';
import { DEFAULT_BACKOFF, QueueHealth } from './queue-health.js';
import { KubeBudgets } from './kube-budgets.js';
import { keepingRestores } from './add-capture-restore.js';
import { hasBudgets, hasNodeBudgets, type BudgetLimits, type ExceededBudget } from '../../core/capture-budget.js';

/** Where the responder learns a target's node before it creates the Capture (the agent there takes it). */
export type PlaceTarget = (target: Capture['spec']['target']) => Promise<{ node: string } | { reason: string; message: string }>;

/** What every KubeQueue talks to. */
export interface KubeQueueConnection {
  readonly kc: KubeConfig;
  /** amber's namespace: Captures live there. */
  readonly namespace: string;
  readonly log: Logger;
  /** Backoff after failed lists and watches in a row (default DEFAULT_BACKOFF). */
  readonly backoff?: Backoff;
}

export interface ResponderQueueOptions extends KubeQueueConnection {
  /** Finds the target's node for new Captures. */
  readonly place: PlaceTarget;
  /** Captures per hour, node, namespace; archive bytes per node per day, shared by every replica (default: unlimited). */
  readonly budgets?: BudgetLimits;
}

export interface AgentQueueOptions extends KubeQueueConnection {
  /** Only Captures for this node are listed and watched. */
  readonly node: string;
  /** Delay before a watch is reopened after it ended without a 410. */
  readonly rewatchMs?: number;
}

/** The role a KubeQueue was made for: each needs its own part, so neither can be half-configured. */
type QueueRole =
  { readonly kind: 'responder'; readonly place: PlaceTarget; readonly budgets?: BudgetLimits | undefined } | { readonly kind: 'agent'; readonly node: string };

const UPDATE_RETRIES = 5;
/** A watch that ends this soon with nothing received counts as a failure (client-go's "very short watch"). */
const SHORT_WATCH_MS = 1000;

/**
 * The capture queue on Kubernetes: one `captures.forensics.amber.dev` resource per capture, in
 * amber's namespace. Durable once the API server answered the create (etcd has it), shared by
 * every responder replica without a leader: the name is derived from the dedupe key, so two
 * replicas creating the same capture converge on one resource (the second gets 409 = duplicate).
 * Agents list and watch the Captures labelled with their node; a watch that ends with 410 Gone
 * (its resourceVersion compacted away) relists, and a capture first seen in a relist is reported
 * like a newly watched one, so none is lost.
 *
 * The API server may refuse for a while (429 with Retry-After while a new CRD's storage starts,
 * priority and fairness, 5xx, cut connections): the first list, and every list and watch after,
 * are retried with exponential backoff and jitter, one log line per failure, never giving up.
 * The queue is not ready (/readyz 503, with the reason) until a list has succeeded.
 */
export class KubeQueue implements CaptureQueue {
  private readonly api: CaptureApi;
  private readonly health: QueueHealth;
  private readonly listeners = new Set<(c: Capture) => void>();
  private readonly changeListeners = new Set<(c: Capture) => void>();
  private readonly seen = new Set<string>();
  private readonly names = new Map<string, string>();
  private watching: AbortController | undefined;
  private watchLoop: Promise<void> | undefined;
  private firstList: Promise<void> | undefined;
  /** an agent's Captures as its list + watch last saw them */
  private readonly cache = new Map<string, Capture>();

  private readonly podLanes = new KeyedLanes();
  /** what a join reads and writes (join-capture-resource.ts) */
  private readonly resources: CaptureResourceAccess = {
    get: async (name) => {
      try {
        return await this.call('get', () => this.api.get(name));
      } catch (e) {
        if (isAmberError(e, 'CAPTURE_RESOURCE_NOT_FOUND')) return undefined;
        throw e;
      }
    },
    replace: async (name, body) => {
      const saved = await this.call('join', () => this.api.replace(name, body));
      this.remember(saved);
      return saved;
    },
  };

  /** The responder's queue: creates Captures, each labelled with the node `place` finds for its target. */
  static forResponder(o: ResponderQueueOptions): KubeQueue {
    return new KubeQueue(o, { kind: 'responder', place: o.place, budgets: o.budgets });
  }

  /** An agent's queue: lists and watches the Captures of its node, and writes their status. */
  static forAgent(o: AgentQueueOptions): KubeQueue {
    return new KubeQueue(o, { kind: 'agent', node: o.node }, o.rewatchMs);
  }

  private constructor(
    private readonly o: KubeQueueConnection,
    private readonly role: QueueRole,
    private readonly rewatchMs = 500,
  ) {
    this.api = captureApi(o.kc, o.namespace);
    this.health = new QueueHealth(o.log, o.backoff ?? DEFAULT_BACKOFF);
    if (role.kind === 'responder' && role.budgets !== undefined && hasBudgets(role.budgets)) {
      this.budgets = new KubeBudgets(
        role.budgets,
        {
          list: async (labelSelector) => ((await this.call('list', () => this.api.list({ labelSelector }))).items ?? []) as CaptureResource[],
          create: (body) => this.call('create', () => this.api.create(body)),
          get: (name) => this.call('get', () => this.api.get(name)),
          replace: (name, body) => this.call('budget', () => this.api.replace(name, body)),
          replaceStatus: (name, body) => this.call('update status', () => this.api.replaceStatus(name, body)),
        },
        o.log,
      );
    }
  }

  /** The budgets, when the responder enforces any (kube-budgets.ts). */
  private readonly budgets: KubeBudgets | undefined;

  /** The agent's node: its list and watch see only the Captures labelled with it. */
  private get node(): string | undefined {
    return this.role.kind === 'agent' ? this.role.node : undefined;
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.health.call(what, fn);
  }

  /**
   * Requests for one pod are decided one after another in this process, so that the decisions of
   * one alert (several policies) see each other's Captures and join rather than freeze it twice.
   */
  enqueue(request: CaptureRequest): Promise<EnqueueResult> {
    return this.podLanes.run(podKey(request.spec.target), () => this.enqueueNow(request));
  }

  private async enqueueNow(request: CaptureRequest): Promise<EnqueueResult> {
    if (request.deliveryKey !== undefined) {
      const same = await this.listResources(`${LABELS.delivery}=${digest40(request.deliveryKey)}`);
      const first = same[0];
      if (first) return { capture: first, duplicate: true };
    }
    const now = Date.now();
    const earlier = await this.listResources(`${LABELS.dedupe}=${digest40(request.dedupeKey)}`);
    const latest = earlier.filter((c) => c.dedupeKey === request.dedupeKey).sort((a, b) => seqOf(b, this.names) - seqOf(a, this.names))[0];
    if (latest && now - Date.parse(latest.createdAt) < request.cooldownMs) return { capture: latest, duplicate: true };
    const samePod = await this.listResources(`${LABELS.pod}=${digest40(podKey(request.spec.target))}`);
    const joinedEarlier = joinedDuplicate(samePod, request, now);
    if (joinedEarlier) return { capture: joinedEarlier, duplicate: true };
    for (const host of joinHosts(samePod, request)) {
      const name = this.names.get(host.id);
      const joined = name === undefined ? undefined : await joinCaptureResource(this.resources, name, request, now);
      if (joined) return { capture: joined, duplicate: false, joined: true };
    }
    const seq = latest ? seqOf(latest, this.names) + 1 : 0;
    const at = new Date(now).toISOString();
    // a storm over a budget that is known full costs no pod read (the node budgets need the node)
    const full = this.budgets && !hasNodeBudgets(this.budgets.limits) ? this.budgets.knownFull(request.spec.target, now) : undefined;
    if (full) return this.createNew(newCapture(request, now), captureName(request.dedupeKey, seq), undefined, now, full);
    const placed = this.role.kind === 'responder' ? await this.role.place(request.spec.target) : undefined;
    const node = placed !== undefined && 'node' in placed ? placed.node : undefined;
    const capture = newCapture(request, now, {
      spec: { ...request.spec, target: { ...request.spec.target, ...(node !== undefined ? { node } : {}) } },
      // a target that cannot be placed is accepted and recorded as failed, with the reason
      ...(placed !== undefined && 'reason' in placed
        ? { status: { phase: 'Failed' as const, phaseTimes: { Pending: at, Failed: at }, attempts: 0, reason: placed.reason, message: placed.message } }
        : {}),
    });
    return this.createNew(capture, captureName(request.dedupeKey, seq), node, now);
  }

  /** Creates the Capture resource `name` (within the budgets, when there are any); a 409 is the other replica's. */
  private async createNew(capture: Capture, name: string, node: string | undefined, now: number, full?: ExceededBudget): Promise<EnqueueResult> {
    try {
      // a capture already failed (its target cannot be placed) consumes no budget
      if (this.budgets && capture.status.phase !== 'Failed') {
        const body = toResource(capture, name, node);
        const done = full ? await this.budgets.createExceeded(capture, body, full, now) : await this.budgets.create(capture, body, node, now);
        this.names.set(capture.id, name);
        return done.overBudget ? { capture: done.capture, duplicate: false, overBudget: done.overBudget } : { capture: done.capture, duplicate: false };
      }
      const created = await this.call('create', () => this.api.create(toResource(capture, name, node)));
      // The API server drops .status on create (status subresource): write it separately.
      this.names.set(capture.id, name);
      await this.writeStatus(name, created, capture.status);
      return { capture, duplicate: false };
    } catch (e) {
      if (!isAmberError(e, 'QUEUE_CONFLICT')) throw e;
      // another replica created it first: that capture is the one
      const winner = await this.getByName(name);
      if (!winner) throw new AmberError('QUEUE_UNAVAILABLE', { problem: `Capture ${name} conflicted on create but cannot be read` });
      return { capture: winner, duplicate: true };
    }
  }

  async get(id: string): Promise<Capture | undefined> {
    const found = await this.listResources(`${LABELS.id}=${id}`);
    return found[0];
  }

  /**
   * An agent whose list + watch runs answers from what they saw: they report every Capture they
   * list to the watchers, so before the first list has succeeded this is empty, not an error (an
   * agent starting while the API server answers 429 must not stop).
   */
  async list(options: ListOptions = {}): Promise<Capture[]> {
    const all = this.watchLoop !== undefined ? [...this.cache.values()] : await this.listResources(undefined);
    const limit = options.limit ?? 100;
    return all
      .filter((c) => options.phase === undefined || c.status.phase === options.phase)
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, limit);
  }

  async updateStatus(id: string, status: CaptureStatus): Promise<Capture> {
    const name = this.names.get(id) ?? (await this.resolveName(id));
    for (let attempt = 1; ; attempt++) {
      const current = await this.call('get', () => this.api.get(name));
      try {
        const saved = await this.writeStatus(name, current, status);
        return fromResource(saved);
      } catch (e) {
        // someone else wrote in between (a responder failing an unclaimed capture): read again
        if (!isAmberError(e, 'QUEUE_CONFLICT') || attempt >= UPDATE_RETRIES) throw e;
      }
    }
  }

  watch(listener: (capture: Capture) => void): () => void {
    this.listeners.add(listener);
    this.watchLoop ??= this.runWatch();
    return () => this.listeners.delete(listener);
  }

  /** Every version of this queue's Captures the watch sees, where `watch` tells of each once (restore-requests.ts). */
  onChange(listener: (capture: Capture) => void): () => void {
    this.changeListeners.add(listener);
    this.watchLoop ??= this.runWatch();
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Starts talking to the API server: an agent lists and watches its Captures, a responder lists
   * once — retried with backoff until one succeeds (not ready until then). Calling it again does nothing.
   */
  start(): void {
    if (this.role.kind === 'agent') this.watchLoop ??= this.runWatch();
    else this.firstList ??= this.listUntilAnswered();
  }

  isReady(): boolean {
    return this.health.isReady();
  }

  /** Why the queue is not ready, for /readyz; undefined when it is. */
  unready(): string | undefined {
    return this.health.unready();
  }

  async close(): Promise<void> {
    this.health.close();
    this.watching?.abort();
    await this.watchLoop?.catch(() => undefined);
    await this.firstList?.catch(() => undefined);
  }

  private async writeStatus(name: string, current: CaptureResource, status: CaptureStatus): Promise<CaptureResource> {
    const body = { ...current, status: keepingRestores(status, (current.status ?? {}) as Partial<CaptureStatus>) };
    return await this.call('update status', () => this.api.replaceStatus(name, body));
  }

  private async resolveName(id: string): Promise<string> {
    await this.get(id);
    const name = this.names.get(id);
    if (name === undefined) throw new AmberError('CAPTURE_NOT_FOUND', { id });
    return name;
  }

  private async getByName(name: string): Promise<Capture | undefined> {
    const r = await this.resources.get(name);
    return r && this.remember(r);
  }

  private async listResources(labelSelector: string | undefined): Promise<Capture[]> {
    const selector = [this.node !== undefined ? `${LABELS.node}=${this.node}` : undefined, labelSelector].filter((s) => s !== undefined).join(',');
    const out = await this.call('list', () => this.api.list({ labelSelector: selector }));
    this.health.markListed();
    return (out.items ?? []).flatMap((r) => {
      try {
        return [this.remember(r as CaptureResource)];
      } catch (e) {
        this.o.log.warn({ err: e, resource: (r as CaptureResource).metadata?.name }, 'ignoring a Capture resource that is not amber-shaped');
        return [];
      }
    });
  }

  private forget(r: CaptureResource): void {
    const id = r.metadata?.annotations?.[ANNOTATIONS.id];
    if (id !== undefined) this.cache.delete(id);
  }

  private remember(r: CaptureResource): Capture {
    const c = fromResource(r);
    this.names.set(c.id, r.metadata.name);
    return c;
  }

  /** The responder's first list: retried until the API server answers it (readiness waits for it). */
  private async listUntilAnswered(): Promise<void> {
    for (let attempt = 1; !this.health.closed && !this.health.hasListed; attempt++) {
      const listed = await this.health.attempt('list', () => this.api.list({ limit: 1 }));
      if (listed.ok) this.health.markListed();
      else await this.health.pause(this.health.failed('list', listed.failure, attempt));
    }
  }

  /**
   * list → watch from the list's resourceVersion → on 410 relist, on any other end re-watch from
   * the last resourceVersion seen; until closed. A failed list or watch (or a watch that ends at
   * once with nothing received) waits the backoff, longer after each failure in a row.
   */
  private async runWatch(): Promise<void> {
    const labelSelector = this.node !== undefined ? `${LABELS.node}=${this.node}` : undefined;
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!this.health.closed) {
      if (resourceVersion === undefined) {
        const listed = await this.health.attempt('list', () => this.api.list({ labelSelector }));
        if (!listed.ok) {
          if (!this.health.closed) await this.health.pause(this.health.failed('list', listed.failure, ++failures));
          continue;
        }
        const out = listed.value;
        this.health.markListed();
        failures = 0;
        this.cache.clear();
        for (const r of out.items ?? []) this.report(r as CaptureResource);
        resourceVersion = out.metadata?.resourceVersion;
      }
      const started = Date.now();
      const ended = await this.api.watch(
        { labelSelector, resourceVersion },
        {
          resourceVersion: (rv) => (resourceVersion = rv),
          changed: (r) => this.report(r),
          deleted: (r) => this.forget(r),
          started: (controller) => {
            this.watching = controller;
            if (this.health.closed) controller.abort();
          },
        },
      );
      if (this.health.closed) break;
      // a watch that brought something or lasted was working: a failure after it is the first in a row
      const worked = ended.events > 0 || Date.now() - started >= SHORT_WATCH_MS;
      if (worked) failures = 0;
      let delayMs = this.rewatchMs;
      if (ended.gone) {
        this.o.log.info({ resourceVersion }, 'Capture watch expired (410 Gone): relisting');
        resourceVersion = undefined;
      } else if (ended.error !== undefined) {
        delayMs = this.health.watchFailed(ended.error, ++failures);
      } else if (!worked) {
        delayMs = this.health.watchFailed(new Error('the watch ended at once, with nothing received'), ++failures);
      }
      await this.health.pause(delayMs);
    }
  }

  private report(r: CaptureResource): void {
    let c: Capture;
    try {
      c = this.remember(r);
    } catch {
      return; // not amber-shaped: logged where it is listed
    }
    this.cache.set(c.id, c);
    for (const l of this.changeListeners) l(c);
    if (this.seen.has(c.id)) return;
    this.seen.add(c.id);
    for (const l of this.listeners) l(c);
  }
}

function seqOf(c: Capture, names: ReadonlyMap<string, string>): number {
  const m = /-(\d+)$/.exec(names.get(c.id) ?? '');
  return m ? Number(m[1]) : 0;
}
