/**
 * A simulated kubelet's checkpoint endpoint, after kubernetes/kubernetes pkg/kubelet/server/server.go
 * (route `POST /checkpoint/{podNamespace}/{podID}/{containerName}`, registered only when the
 * ContainerCheckpoint gate is on; auth filter → "Unauthorized" / "Forbidden (user=…, verb=create,
 * resource=nodes, subresource(s)=[checkpoint])"; handler errors written with go-restful's
 * WriteError: bare text, no newline), pkg/kubelet/kubelet.go CheckpointContainer (archive name
 * `checkpoint-<pod>_<namespace>-<container>-<time.RFC3339>.tar`, taken before calling the runtime;
 * a container the runtime does not list as running → "container <name> not found"), and the CRI
 * client's remoteRuntimeService.CheckpointContainer (a negative timeout is refused; a timeout below
 * the runtime-request-timeout default is replaced by it; the call runs under that deadline).
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { writeCheckpointArchive } from './checkpoint-archive.js';
import { imageDigestRef, sha256hex, type PodRecord } from './k8s-objects.js';
import { pausedByAnotherCheckpoint, rfc3339InZone, RUNTIME_ERRORS, tcpEstablishedMissing } from './runtime-errors.js';
import type { ContainerContext } from './runtime-metadata.js';
import { authenticate, goHttpError, logKey, podKey, restfulError, send, type CheckpointReceipt, type SimNode, type SimState } from './sim-state.js';

export { RUNTIME_ERRORS } from './runtime-errors.js';

/** Waits ms, or less if the sim is closing. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function verbOf(method: string | undefined): string {
  return ({ POST: 'create', GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method ?? ''] ?? '';
}

/** go-restful's Route.matchesAccept for Produces(application/json). */
function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((part) => {
    const t = (part.split(';')[0] ?? '').trim();
    return t === '*/*' || t === 'application/json';
  });
}

/** strconv.ParseInt(s, 10, 64) */
function parseGoInt(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v > 9223372036854775807n || v < -9223372036854775808n) return undefined;
  return Number(v);
}

function fakeSecret(ns: string, ref: { name: string; key: string }): string {
  return `sim-${ref.key}-${sha256hex(`${ns}/${ref.name}/${ref.key}`).slice(0, 20)}`;
}

export function containerContext(state: SimState, rec: PodRecord, container: string, now: number): ContainerContext {
  const c = rec.spec.containers.find((x) => x.name === container);
  const image = c?.image ?? 'unknown';
  const { ref, configId } = imageDigestRef(image);
  const env = (rec.spec.env ?? [])
    .filter((e) => e.container === container)
    .map((e) => `${e.name}=${e.secretKeyRef ? fakeSecret(rec.spec.namespace, e.secretKeyRef) : (e.value ?? '')}`);
  return {
    layout: state.archive.layout,
    namespace: rec.spec.namespace,
    pod: rec.spec.name,
    podUid: rec.uid,
    container,
    containerId: rec.containerIds.get(container) ?? '',
    sandboxId: rec.sandboxId,
    image,
    imageRef: ref,
    imageId: configId,
    podIP: rec.podIP,
    hostPid: rec.hostPids.get(container) ?? 1,
    createdAt: rec.createdAt + 1500,
    startedAt: rec.createdAt + 2000,
    checkpointedAt: now,
    restartCount: 0,
    argv: c?.command ?? ['/bin/sh', '/app/entrypoint.sh'],
    writes: c?.writes ?? [],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${rec.spec.name}`, ...env],
    logLines: state.logs.get(logKey(rec.spec.namespace, rec.spec.name, container)) ?? [],
  };
}

export function kubeletHandler(state: SimState, node: SimNode): (req: IncomingMessage, res: ServerResponse) => void {
  const inFlight = new Set<string>();
  return (req, res) => {
    if (state.faults.kubeletDown) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'https://sim');
    if (!url.pathname.startsWith('/checkpoint/')) return goHttpError(res, 404, '404 page not found');
    const seg = url.pathname.split('/').slice(2);
    const wellFormed = seg.length === 3 && seg.every((s) => s.length > 0);
    let parts: string[];
    try {
      parts = seg.map((s) => decodeURIComponent(s));
    } catch {
      return restfulError(res, 404, '404: Page Not Found');
    }
    const [ns = '', podName = '', ctr = ''] = parts;
    const timeouts = url.searchParams.getAll('timeout');
    const lastTimeout = timeouts.length ? timeouts[timeouts.length - 1] : undefined;
    let receipt: CheckpointReceipt | undefined;
    if (wellFormed) {
      receipt = {
        node: node.name,
        namespace: ns,
        pod: podName,
        container: ctr,
        timeoutSeconds: lastTimeout === undefined ? undefined : parseGoInt(lastTimeout),
        receivedAt: performance.timeOrigin + performance.now(),
        status: 0,
      };
      state.receipts.push(receipt);
    }
    const done = (status: number) => {
      if (receipt) receipt.status = status;
    };
    const fail = (status: number, text: string, headers?: Record<string, string>) => {
      done(status);
      restfulError(res, status, text, headers);
    };

    // No ContainerCheckpoint gate: the route is not registered; net/http's ServeMux answers before any auth filter.
    if (state.faults.checkpointFeatureOff) {
      done(404);
      return goHttpError(res, 404, '404 page not found');
    }

    // Auth filter (anonymous auth is off on a hardened kubelet: no token → 401).
    const auth = authenticate(state, req);
    if (auth.kind !== 'ok') return fail(401, 'Unauthorized');
    // unlike every other answer here, a real kubelet 1.32 ends this one with a newline (fixture 03)
    if (!auth.id.allowed) return fail(403, `Forbidden (user=${auth.id.user}, verb=${verbOf(req.method)}, resource=nodes, subresource(s)=[checkpoint])\n`);

    // go-restful routing: path, then method, then Accept.
    if (!wellFormed) return fail(404, '404: Page Not Found');
    if (req.method !== 'POST') return fail(405, '405: Method Not Allowed', { Allow: 'POST' });
    if (!acceptsJson(req.headers.accept)) return fail(406, '406: Not Acceptable\n\nAvailable representations: application/json');

    // Server.checkpoint
    const rec = state.pods.get(podKey(ns, podName));
    if (!rec || rec.spec.node !== node.name) return fail(404, 'pod does not exist');
    const spec = rec.spec.containers.find((c) => c.name === ctr);
    if (!spec) return fail(404, `container ${ctr} does not exist`);
    let timeout = 0;
    if (lastTimeout !== undefined) {
      const t = parseGoInt(lastTimeout);
      if (t === undefined) return fail(404, 'cannot parse value of timeout parameter');
      timeout = t;
    }
    const failed = (why: string) => `checkpointing of ${ns}/${podName}/${ctr} failed (${why})`;
    // Kubelet.CheckpointContainer: findContainer lists running containers only.
    if (spec.running === false) return fail(500, failed(`container ${ctr} not found`));
    // the kubelet's local time, as time.Now().Format(time.RFC3339) prints it (`…T21:18:52+02:00`)
    const localTime = () => rfc3339InZone(Date.now(), state.timeZone);
    const path = join(node.checkpointDir, `checkpoint-${podName}_${ns}-${ctr}-${localTime()}.tar`);
    // remoteRuntimeService.CheckpointContainer
    if (timeout < 0) return fail(500, failed('CheckpointContainer requires the timeout value to be > 0'));
    const effectiveMs = Math.max(timeout, state.archive.runtimeDefaultTimeoutSeconds) * 1000;
    const key = `${ns}/${podName}/${ctr}`;
    const containerId = rec.containerIds.get(ctr) ?? '';
    // CRI-O pauses the container for the dump; a second dump then finds it not running.
    if (inFlight.has(key)) return fail(500, failed(pausedByAnotherCheckpoint(containerId, localTime())));
    inFlight.add(key);
    void (async () => {
      try {
        const delay = state.faults.checkpointDelayMs;
        const closed = () => {
          if (state.closing.aborted) res.destroy();
          return state.closing.aborted;
        };
        if (delay > effectiveMs) {
          await sleep(effectiveMs, state.closing);
          if (closed()) return;
          return fail(500, failed(RUNTIME_ERRORS.deadline));
        }
        if (delay > 0) await sleep(delay, state.closing);
        if (closed()) return;
        if (state.faults.checkpointError !== undefined) return fail(500, failed(state.faults.checkpointError));
        // every sim container holds established TCP connections (the miner's pool, the reverse shell)
        if (state.faults.tcpEstablishedMissing) return fail(500, failed(tcpEstablishedMissing(containerId, localTime())));
        const now = state.pods.get(podKey(ns, podName));
        if (now !== rec) {
          const gone =
            state.archive.layout === 'crio'
              ? `rpc error: code = NotFound desc = could not find container "${containerId}": container with ID starting with ${containerId} not found: ID does not exist`
              : `rpc error: code = NotFound desc = an error occurred when trying to find container "${containerId}": not found`;
          return fail(500, failed(gone));
        }
        try {
          await writeCheckpointArchive(path, containerContext(state, rec, ctr, Date.now()), state.archive.pagesBytes);
        } catch (err) {
          return fail(500, failed(`rpc error: code = Unknown desc = ${(err as Error).message}`));
        }
        if (receipt) {
          receipt.path = path;
          receipt.status = 200;
        }
        send(res, 200, `{"items":["${path}"]}`, 'application/json');
      } finally {
        inFlight.delete(key);
      }
    })();
  };
}

/** A pseudo host pid for a new container. */
export const hostPid = () => randomInt(20_000, 4_000_000);
