/**
 * The simulated kube-apiserver: the pod/node read paths amber uses (and, through
 * custom-resources.ts, the Capture custom resource; through event-resources.ts, Events), with the real authn → authz →
 * routing order and the real metav1.Status error bodies (k8s.io/apimachinery/pkg/api/errors:
 * NewUnauthorized, NewForbidden, NewNotFound, NewBadRequest; apiserver
 * endpoints/handlers/responsewriters/errors.go forbiddenMessage).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forbidden as forbiddenError } from './api-errors.js';
import { answerFault } from './api-faults.js';
import { serveCustomResources } from './custom-resources.js';
import { serveEvents } from './event-resources.js';
import { createdPods, serveSandboxResources } from './sandbox-resources.js';
import { nodeListObject, nodeObject, podListObject, podObject, statusObject } from './k8s-objects.js';
import type { PodRecord } from './k8s-objects.js';
import { matchesLabels, parseLabelSelector } from './label-selector.js';
import { authenticate, logKey, podKey, send, writeJson, type SimState } from './sim-state.js';

type Route =
  | { kind: 'pod'; ns: string; name: string }
  | { kind: 'podLog'; ns: string; name: string }
  | { kind: 'pods'; ns?: string }
  | { kind: 'node'; name: string }
  | { kind: 'nodes' };

function route(path: string): Route | undefined {
  let seg: string[];
  try {
    seg = path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (seg[0] !== 'api' || seg[1] !== 'v1') return undefined;
  const [, , a, b, c, d, e, f] = seg;
  if (a === 'namespaces' && b && c === 'pods') {
    if (d === undefined) return { kind: 'pods', ns: b };
    if (e === undefined) return { kind: 'pod', ns: b, name: d };
    if (e === 'log' && f === undefined) return { kind: 'podLog', ns: b, name: d };
    return undefined;
  }
  if (a === 'pods' && b === undefined) return { kind: 'pods' };
  if (a === 'nodes' && b === undefined) return { kind: 'nodes' };
  if (a === 'nodes' && b && c === undefined) return { kind: 'node', name: b };
  return undefined;
}

function forbidden(res: ServerResponse, user: string, verb: string, r: Route): void {
  const e = forbiddenError(user, {
    verb,
    group: '',
    resource: r.kind.startsWith('pod') ? 'pods' : 'nodes',
    ...(r.kind === 'podLog' ? { subresource: 'log' } : {}),
    ...('name' in r ? { name: r.name } : {}),
    ...('ns' in r && r.ns ? { namespace: r.ns } : {}),
  });
  writeJson(res, e.code, e.body);
}

const notFound = (res: ServerResponse, kind: 'pods' | 'nodes', name: string) =>
  writeJson(res, 404, statusObject(404, 'NotFound', `${kind} "${name}" not found`, { name, kind }));
const badRequest = (res: ServerResponse, message: string) => writeJson(res, 400, statusObject(400, 'BadRequest', message));

/** fieldSelector equality terms (`a=b`, `a==b`, `a!=b`), comma-separated. */
function selector(expr: string | null, get: (key: string) => string | undefined | null): boolean | string {
  if (!expr) return true;
  for (const term of expr
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)) {
    const m = /^([^!=]+?)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!m || !m[1]) return `unable to parse requirement: ${term}`;
    const v = get(m[1]);
    if (v === null) return `field label not supported: ${m[1]}`;
    if ((m[2] === '!=') === (v === m[3])) return false;
  }
  return true;
}

/** Supported pod field selectors; null = not a supported field label. */
function podField(rec: PodRecord, key: string): string | null {
  switch (key) {
    case 'metadata.name':
      return rec.spec.name;
    case 'metadata.namespace':
      return rec.spec.namespace;
    case 'spec.nodeName':
      return rec.spec.node;
    case 'status.phase':
      return 'Running';
    default:
      return null;
  }
}

export function apiServerHandler(state: SimState): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = serve(state);
  return (req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      // A sim bug (e.g. an object failing schema validation): say so loudly, answer 500, keep serving.
      console.error(err);
      if (!res.headersSent)
        writeJson(res, 500, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: String((err as Error).message),
          reason: 'InternalError',
          code: 500,
        });
    }
  };
}

function serve(state: SimState): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (state.faults.apiDown) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'https://sim');
    if (answerFault(state, 'connection', req, res, url)) return;
    const auth = authenticate(state, req);
    if (auth.kind === 'unauthorized') return writeJson(res, 401, statusObject(401, 'Unauthorized', 'Unauthorized'));
    const id = auth.kind === 'ok' ? auth.id : { user: 'system:anonymous', allowed: false };
    if (answerFault(state, 'flowControl', req, res, url)) return;
    // RBAC here is all or nothing: a request that passes authorization reaches storage
    if (answerFault(state, 'storage', req, res, url, id.allowed)) return;
    if (serveCustomResources(state, req, res, url, { ...id, authenticated: auth.kind === 'ok' })) return;
    if (serveSandboxResources(state, req, res, url, id)) return;
    if (serveEvents(state, req, res, url, id)) return;
    const r = route(url.pathname);
    if (!r) return writeJson(res, 404, statusObject(404, 'NotFound', 'the server could not find the requested resource', {}));
    if (req.method !== 'GET') {
      return writeJson(res, 405, statusObject(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}));
    }
    const verb = r.kind === 'pods' || r.kind === 'nodes' ? 'list' : 'get';
    if (!id.allowed) return forbidden(res, id.user, verb, r);
    const layout = state.archive.layout;
    const rv = String(state.resourceVersion);
    switch (r.kind) {
      case 'pod': {
        const rec = state.pods.get(podKey(r.ns, r.name));
        return rec ? writeJson(res, 200, podObject(rec, layout)) : notFound(res, 'pods', r.name);
      }
      case 'pods': {
        const items: PodRecord[] = [];
        const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
        if (typeof labels === 'string') return badRequest(res, labels);
        for (const rec of state.pods.values()) {
          if (r.ns && rec.spec.namespace !== r.ns) continue;
          const f = selector(url.searchParams.get('fieldSelector'), (k) => podField(rec, k));
          if (typeof f === 'string') return badRequest(res, f);
          if (f && matchesLabels(labels, podObject(rec, layout).metadata?.labels)) items.push(rec);
        }
        items.sort((a, b) => (podKey(a.spec.namespace, a.spec.name) < podKey(b.spec.namespace, b.spec.name) ? -1 : 1));
        return writeJson(
          res,
          200,
          podListObject(
            [
              ...items.map((p) => podObject(p, layout)),
              // pods created through the API (a restore's sandbox) are listed beside them
              ...(createdPods(state, r.ns).filter((o) => matchesLabels(labels, (o['metadata'] as { labels?: Record<string, string> }).labels)) as never[]),
            ],
            rv,
          ),
        );
      }
      case 'node': {
        const n = state.nodes.find((x) => x.name === r.name);
        return n
          ? writeJson(res, 200, nodeObject(n.name, n.index, n.advertisedPort ?? n.kubeletPort, layout, n.createdAt, rv))
          : notFound(res, 'nodes', r.name);
      }
      case 'nodes':
        return writeJson(
          res,
          200,
          nodeListObject(
            state.nodes.map((n) => nodeObject(n.name, n.index, n.advertisedPort ?? n.kubeletPort, layout, n.createdAt, rv)),
            rv,
          ),
        );
      case 'podLog': {
        const rec = state.pods.get(podKey(r.ns, r.name));
        if (!rec) return notFound(res, 'pods', r.name);
        const names = rec.spec.containers.map((c) => c.name);
        let container = url.searchParams.get('container') ?? '';
        if (!container) {
          if (names.length !== 1) return badRequest(res, `a container name must be specified for pod ${r.name}, choose one of: [${names.join(' ')}]`);
          container = names[0] ?? '';
        } else if (!names.includes(container)) {
          return badRequest(res, `container ${container} is not valid for pod ${r.name}`);
        }
        let lines = state.logs.get(logKey(r.ns, r.name, container)) ?? [];
        const tail = url.searchParams.get('tailLines');
        if (tail !== null) {
          const n = Number(tail);
          if (!Number.isInteger(n) || n < 0)
            return writeJson(
              res,
              422,
              statusObject(422, 'Invalid', `PodLogOptions "${r.name}" is invalid: tailLines: Invalid value: ${tail}: must be greater than or equal to 0`),
            );
          lines = n === 0 ? [] : lines.slice(-n);
        }
        return send(res, 200, lines.map((l) => `${l}\n`).join(''), 'text/plain', { 'Audit-Id': randomUUID(), 'Cache-Control': 'no-cache, private' });
      }
    }
  };
}
