import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AmberError } from '../core/amber-error.js';
import type { Capture, CaptureStatus } from '../core/capture.js';
import { newCapture, type CaptureQueue, type CaptureRequest, type EnqueueResult, type ListOptions } from '../queue/capture-queue.js';
import { podKey } from '../core/join-capture.js';
import { KeyedLanes } from '../core/keyed-lanes.js';
import { apiFailure, describeFailure, queueError, retryDelayMs, type Backoff } from './api-failure.js';
import { joinCaptureResource, joinedDuplicate, joinHosts, type CaptureResourceAccess } from './join-capture-resource.js';
import { watchOnce } from './watch-once.js';
import {
  ANNOTATIONS,
  CAPTURE_GROUP,
  CAPTURE_PLURAL,
  CAPTURE_VERSION,
  captureName,
  digest40,
  fromResource,
  LABELS,
  toResource,
  type CaptureResource,
} from './capture-resource.js';

/** Where the responder learns a target's node before it creates the Capture (the agent there takes it). */
export type PlaceTarget = (target: Capture['spec']['target']) => Promise<{ node: string } | { reason: string; message: string }>;

export interface KubeQueueOptions {
  readonly kc: KubeConfig;
  /** amber's namespace: Captures live there. */
  readonly namespace: string;
  readonly log: Logger;
  /** Agent: only Captures for this node are listed and watched. */
  readonly node?: string;
  /** Responder: finds the target's node for new Captures. */
  readonly place?: PlaceTarget;
  /** Delay before a watch is reopened after it ended without a 410. */
  readonly rewatchMs?: number;
  /** Backoff after failed lists and watches in a row (default DEFAULT_BACKOFF). */
  readonly backoff?: Backoff;
}

const UPDATE_RETRIES = 5;
export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 30_000 };
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
  private readonly api: CustomObjectsApi;
  private readonly listeners = new Set<(c: Capture) => void>();
  private readonly seen = new Set<string>();
  private readonly names = new Map<string, string>();
  private healthy = true;
  /** a list of Captures has succeeded: until then the queue is not ready */
  private listed = false;
  /** the last transient failure, for /readyz */
  private lastFailure: string | undefined;
  private closed = false;
  private watching: AbortController | undefined;
  private watchLoop: Promise<void> | undefined;
  private firstList: Promise<void> | undefined;
  /** an agent's Captures as its list + watch last saw them */
  private readonly cache = new Map<string, Capture>();
  private readonly sleepers = new Set<() => void>();

  private readonly podLanes = new KeyedLanes();
  /** what a join reads and writes (join-capture-resource.ts) */
  private readonly resources: CaptureResourceAccess = {
    get: async (name) => {
      try {
        return (await this.call('get', () => this.api.getNamespacedCustomObject({ ...this.base, name }))) as CaptureResource;
      } catch (e) {
        if (e instanceof AmberError && e.details['status'] === 404) return undefined;
        throw e;
      }
    },
    replace: async (name, body) => {
      const saved = (await this.call('join', () => this.api.replaceNamespacedCustomObject({ ...this.base, name, body }))) as CaptureResource;
      this.remember(saved);
      return saved;
    },
  };

  constructor(private readonly o: KubeQueueOptions) {
    this.api = o.kc.makeApiClient(CustomObjectsApi);
  }

  private get base() {
    return { group: CAPTURE_GROUP, version: CAPTURE_VERSION, namespace: this.o.namespace, plural: CAPTURE_PLURAL };
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
    const placed = this.o.place ? await this.o.place(request.spec.target) : undefined;
    const node = placed !== undefined && 'node' in placed ? placed.node : undefined;
    const capture = newCapture(request, now, {
      spec: { ...request.spec, target: { ...request.spec.target, ...(node !== undefined ? { node } : {}) } },
      // a target that cannot be placed is accepted and recorded as failed, with the reason
      ...(placed !== undefined && 'reason' in placed
        ? { status: { phase: 'Failed' as const, phaseTimes: { Pending: at, Failed: at }, attempts: 0, reason: placed.reason, message: placed.message } }
        : {}),
    });
    const name = captureName(request.dedupeKey, seq);
    try {
      const created = (await this.call('create', () =>
        this.api.createNamespacedCustomObject({ ...this.base, body: toResource(capture, name, node) }),
      )) as CaptureResource;
      // The API server drops .status on create (status subresource): write it separately.
      this.names.set(capture.id, name);
      await this.writeStatus(name, created, capture.status);
      return { capture, duplicate: false };
    } catch (e) {
      if (!(e instanceof AmberError && e.details['status'] === 409)) throw e;
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
      const current = (await this.call('get', () => this.api.getNamespacedCustomObject({ ...this.base, name }))) as CaptureResource;
      try {
        const saved = await this.writeStatus(name, current, status);
        return fromResource(saved);
      } catch (e) {
        // someone else wrote in between (a responder failing an unclaimed capture): read again
        if (!(e instanceof AmberError && e.details['status'] === 409) || attempt >= UPDATE_RETRIES) throw e;
      }
    }
  }

  watch(listener: (capture: Capture) => void): () => void {
    this.listeners.add(listener);
    this.watchLoop ??= this.runWatch();
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts talking to the API server: an agent lists and watches its Captures, a responder lists
   * once — retried with backoff until one succeeds (not ready until then). Calling it again does nothing.
   */
  start(): void {
    if (this.o.node !== undefined) this.watchLoop ??= this.runWatch();
    else this.firstList ??= this.listUntilAnswered();
  }

  isReady(): boolean {
    return this.listed && this.healthy && !this.closed;
  }

  /** Why the queue is not ready, for /readyz; undefined when it is. */
  unready(): string | undefined {
    if (this.closed) return 'closing';
    const last = this.lastFailure !== undefined ? ` (last answer: ${this.lastFailure})` : '';
    if (!this.listed) return `waiting for the first list of Captures to succeed${last}`;
    return this.healthy ? undefined : `the API server failed the last request${last}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watching?.abort();
    for (const wake of [...this.sleepers]) wake();
    await this.watchLoop?.catch(() => undefined);
    await this.firstList?.catch(() => undefined);
  }

  private async writeStatus(name: string, current: CaptureResource, status: CaptureStatus): Promise<CaptureResource> {
    const body = { ...current, status };
    return (await this.call('update status', () => this.api.replaceNamespacedCustomObjectStatus({ ...this.base, name, body }))) as CaptureResource;
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
    const selector = [this.o.node !== undefined ? `${LABELS.node}=${this.o.node}` : undefined, labelSelector].filter((s) => s !== undefined).join(',');
    const out = (await this.call('list', () =>
      this.api.listNamespacedCustomObject({ ...this.base, ...(selector !== '' ? { labelSelector: selector } : {}) }),
    )) as { items?: unknown[] };
    this.listed = true;
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

  /**
   * One API call. A failure becomes an AmberError whose details say what, the status, the
   * server's message and Retry-After — never client-node's error itself, whose message carries
   * the whole body and headers. 429, 5xx and lost connections make the queue unhealthy until a
   * call succeeds.
   */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.healthy = true;
      return out;
    } catch (e) {
      const f = apiFailure(e);
      if (f.transient) {
        this.healthy = false;
        this.lastFailure = `${what}: ${describeFailure(f)}`;
      }
      throw queueError(what, f);
    }
  }

  /**
   * Logs one line for the `attempt`-th failure in a row of a list or watch, and says how long to
   * wait: the backoff step with jitter, or the server's Retry-After when that is longer.
   */
  private failed(what: 'list' | 'watch', e: unknown, attempt: number): number {
    const f = apiFailure(e);
    const delayMs = retryDelayMs(attempt, this.o.backoff ?? DEFAULT_BACKOFF, f.retryAfterSeconds);
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
    if (f.transient) this.o.log.warn(fields, msg);
    else this.o.log.error(fields, msg);
    return delayMs;
  }

  /** Waits, or less if the queue is closed meanwhile. */
  private pause(ms: number): Promise<void> {
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

  /** The responder's first list: retried until the API server answers it (readiness waits for it). */
  private async listUntilAnswered(): Promise<void> {
    for (let attempt = 1; !this.closed && !this.listed; attempt++) {
      try {
        await this.call('list', () => this.api.listNamespacedCustomObject({ ...this.base, limit: 1 }));
        this.listed = true;
      } catch (e) {
        await this.pause(this.failed('list', e, attempt));
      }
    }
  }

  /**
   * list → watch from the list's resourceVersion → on 410 relist, on any other end re-watch from
   * the last resourceVersion seen; until closed. A failed list or watch (or a watch that ends at
   * once with nothing received) waits the backoff, longer after each failure in a row.
   */
  private async runWatch(): Promise<void> {
    const labelSelector = this.o.node !== undefined ? `${LABELS.node}=${this.o.node}` : undefined;
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!this.closed) {
      if (resourceVersion === undefined) {
        try {
          const out = (await this.call('list', () =>
            this.api.listNamespacedCustomObject({ ...this.base, ...(labelSelector !== undefined ? { labelSelector } : {}) }),
          )) as { items?: CaptureResource[]; metadata?: { resourceVersion?: string } };
          this.listed = true;
          failures = 0;
          this.cache.clear();
          for (const r of out.items ?? []) this.report(r);
          resourceVersion = out.metadata?.resourceVersion;
        } catch (e) {
          if (!this.closed) await this.pause(this.failed('list', e, ++failures));
          continue;
        }
      }
      const started = Date.now();
      const path = `/apis/${CAPTURE_GROUP}/${CAPTURE_VERSION}/namespaces/${this.o.namespace}/${CAPTURE_PLURAL}`;
      const ended = await watchOnce(
        new Watch(this.o.kc),
        path,
        { labelSelector, resourceVersion },
        {
          resourceVersion: (rv) => (resourceVersion = rv),
          changed: (r) => this.report(r),
          deleted: (r) => this.forget(r),
          started: (controller) => {
            this.watching = controller;
            if (this.closed) controller.abort();
          },
        },
      );
      if (this.closed) break;
      // a watch that brought something or lasted was working: a failure after it is the first in a row
      const worked = ended.events > 0 || Date.now() - started >= SHORT_WATCH_MS;
      if (worked) failures = 0;
      let delayMs = this.o.rewatchMs ?? 500;
      if (ended.gone) {
        this.o.log.info({ resourceVersion }, 'Capture watch expired (410 Gone): relisting');
        resourceVersion = undefined;
      } else if (ended.error !== undefined) {
        delayMs = this.failed('watch', ended.error, ++failures);
      } else if (!worked) {
        delayMs = this.failed('watch', new Error('the watch ended at once, with nothing received'), ++failures);
      }
      await this.pause(delayMs);
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
    if (this.seen.has(c.id)) return;
    this.seen.add(c.id);
    for (const l of this.listeners) l(c);
  }
}

function seqOf(c: Capture, names: ReadonlyMap<string, string>): number {
  const m = /-(\d+)$/.exec(names.get(c.id) ?? '');
  return m ? Number(m[1]) : 0;
}
