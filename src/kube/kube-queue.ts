import { ApiException, CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AmberError } from '../core/amber-error.js';
import type { Capture, CaptureStatus } from '../core/capture.js';
import { newCapture, type CaptureQueue, type CaptureRequest, type EnqueueResult, type ListOptions } from '../queue/capture-queue.js';
import { statusMessage } from './api-failure.js';
import { CAPTURE_GROUP, CAPTURE_PLURAL, CAPTURE_VERSION, captureName, digest40, fromResource, LABELS, toResource, type CaptureResource } from './capture-resource.js';

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
}

const UPDATE_RETRIES = 5;

/**
 * The capture queue on Kubernetes: one `captures.forensics.amber.dev` resource per capture, in
 * amber's namespace. Durable once the API server answered the create (etcd has it), shared by
 * every responder replica without a leader: the name is derived from the dedupe key, so two
 * replicas creating the same capture converge on one resource (the second gets 409 = duplicate).
 * Agents list and watch the Captures labelled with their node; a watch that ends with 410 Gone
 * (its resourceVersion compacted away) relists, and a capture first seen in a relist is reported
 * like a newly watched one, so none is lost.
 */
export class KubeQueue implements CaptureQueue {
  private readonly api: CustomObjectsApi;
  private readonly listeners = new Set<(c: Capture) => void>();
  private readonly seen = new Set<string>();
  private readonly names = new Map<string, string>();
  private healthy = true;
  private closed = false;
  private watching: AbortController | undefined;
  private watchLoop: Promise<void> | undefined;

  constructor(private readonly o: KubeQueueOptions) {
    this.api = o.kc.makeApiClient(CustomObjectsApi);
  }

  private get base() {
    return { group: CAPTURE_GROUP, version: CAPTURE_VERSION, namespace: this.o.namespace, plural: CAPTURE_PLURAL };
  }

  async enqueue(request: CaptureRequest): Promise<EnqueueResult> {
    if (request.deliveryKey !== undefined) {
      const same = await this.listResources(`${LABELS.delivery}=${digest40(request.deliveryKey)}`);
      const first = same[0];
      if (first) return { capture: first, duplicate: true };
    }
    const now = Date.now();
    const earlier = await this.listResources(`${LABELS.dedupe}=${digest40(request.dedupeKey)}`);
    const latest = earlier.filter((c) => c.dedupeKey === request.dedupeKey).sort((a, b) => seqOf(b, this.names) - seqOf(a, this.names))[0];
    if (latest && now - Date.parse(latest.createdAt) < request.cooldownMs) return { capture: latest, duplicate: true };
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
      const created = (await this.call('create', () => this.api.createNamespacedCustomObject({ ...this.base, body: toResource(capture, name, node) }))) as CaptureResource;
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

  async list(options: ListOptions = {}): Promise<Capture[]> {
    const all = await this.listResources(undefined);
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

  isReady(): boolean {
    return this.healthy && !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watching?.abort();
    await this.watchLoop?.catch(() => undefined);
  }

  /**
   * Responder housekeeping: a capture still Pending, never attempted, `timeoutMs` after it was
   * queued has no agent on its node (or none that works): it fails with NoAgent, so it does not
   * wait forever unseen. Returns the ids failed.
   */
  async failUnclaimed(timeoutMs: number): Promise<string[]> {
    const now = Date.now();
    const failed: string[] = [];
    for (const c of await this.listResources(undefined)) {
      if (c.status.phase !== 'Pending' || c.status.attempts > 0 || now - Date.parse(c.createdAt) < timeoutMs) continue;
      const at = new Date(now).toISOString();
      await this.updateStatus(c.id, {
        ...c.status,
        phase: 'Failed',
        phaseTimes: { ...c.status.phaseTimes, Failed: at },
        reason: 'NoAgent',
        message: `no amber agent on node ${c.spec.target.node ?? '(unknown)'} took the capture within ${Math.round(timeoutMs / 1000)} s`,
      });
      failed.push(c.id);
    }
    return failed;
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
    try {
      const r = (await this.call('get', () => this.api.getNamespacedCustomObject({ ...this.base, name }))) as CaptureResource;
      return this.remember(r);
    } catch (e) {
      if (e instanceof AmberError && e.details['status'] === 404) return undefined;
      throw e;
    }
  }

  private async listResources(labelSelector: string | undefined): Promise<Capture[]> {
    const selector = [this.o.node !== undefined ? `${LABELS.node}=${this.o.node}` : undefined, labelSelector].filter((s) => s !== undefined).join(',');
    const out = (await this.call('list', () => this.api.listNamespacedCustomObject({ ...this.base, ...(selector !== '' ? { labelSelector: selector } : {}) }))) as { items?: unknown[] };
    return (out.items ?? []).flatMap((r) => {
      try {
        return [this.remember(r as CaptureResource)];
      } catch (e) {
        this.o.log.warn({ err: e, resource: (r as CaptureResource).metadata?.name }, 'ignoring a Capture resource that is not amber-shaped');
        return [];
      }
    });
  }

  private remember(r: CaptureResource): Capture {
    const c = fromResource(r);
    this.names.set(c.id, r.metadata.name);
    return c;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.healthy = true;
      return out;
    } catch (e) {
      if (e instanceof ApiException) {
        const status = e.code;
        const message = statusMessage(e.body) ?? e.message.split('\n')[0];
        if (status === 409 || status === 404) throw new AmberError('QUEUE_UNAVAILABLE', { what, status, message }, { cause: e });
        if (status >= 500 || status === 429) this.healthy = false;
        throw new AmberError(status === 401 || status === 403 ? 'KUBE_FORBIDDEN' : 'QUEUE_UNAVAILABLE', { what, status, message }, { cause: e });
      }
      this.healthy = false;
      throw new AmberError('QUEUE_UNAVAILABLE', { what, message: e instanceof Error ? e.message : String(e) }, { cause: e });
    }
  }

  /** list → watch from the list's resourceVersion → on 410 relist, on any other end re-watch; until closed. */
  private async runWatch(): Promise<void> {
    const path = `/apis/${CAPTURE_GROUP}/${CAPTURE_VERSION}/namespaces/${this.o.namespace}/${CAPTURE_PLURAL}`;
    const labelSelector = this.o.node !== undefined ? `${LABELS.node}=${this.o.node}` : undefined;
    let resourceVersion: string | undefined;
    while (!this.closed) {
      try {
        if (resourceVersion === undefined) {
          const out = (await this.call('list', () =>
            this.api.listNamespacedCustomObject({ ...this.base, ...(labelSelector !== undefined ? { labelSelector } : {}) }),
          )) as { items?: CaptureResource[]; metadata?: { resourceVersion?: string } };
          for (const r of out.items ?? []) this.report(r);
          resourceVersion = out.metadata?.resourceVersion;
        }
        const ended = await new Promise<{ gone: boolean }>((resolve) => {
          let gone = false;
          void new Watch(this.o.kc)
            .watch(
              path,
              { allowWatchBookmarks: true, ...(labelSelector !== undefined ? { labelSelector } : {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
              (type, obj: CaptureResource & { code?: number }) => {
                if (type === 'ERROR') {
                  gone ||= obj.code === 410;
                  return;
                }
                if (obj.metadata?.resourceVersion !== undefined) resourceVersion = obj.metadata.resourceVersion;
                if (type === 'ADDED' || type === 'MODIFIED') this.report(obj);
              },
              (err: unknown) => resolve({ gone: gone || (err as { code?: number; statusCode?: number } | null)?.statusCode === 410 }),
            )
            .then(
              (controller) => {
                this.watching = controller;
                if (this.closed) controller.abort();
              },
              (err: unknown) => {
                this.o.log.warn({ err }, 'Capture watch could not start');
                resolve({ gone: false });
              },
            );
        });
        if (ended.gone) {
          this.o.log.info({ resourceVersion }, 'Capture watch expired (410 Gone): relisting');
          resourceVersion = undefined;
        }
      } catch (err) {
        this.o.log.warn({ err }, 'Capture list failed; retrying');
        resourceVersion = undefined;
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, this.o.rewatchMs ?? 500));
    }
  }

  private report(r: CaptureResource): void {
    let c: Capture;
    try {
      c = this.remember(r);
    } catch {
      return; // not amber-shaped: logged where it is listed
    }
    if (this.seen.has(c.id)) return;
    this.seen.add(c.id);
    for (const l of this.listeners) l(c);
  }
}

function seqOf(c: Capture, names: ReadonlyMap<string, string>): number {
  const m = /-(\d+)$/.exec(names.get(c.id) ?? '');
  return m ? Number(m[1]) : 0;
}
