/**
 * The API server's `forensics.amber.dev/v1alpha1` group: discovery, and `captures` (namespaced,
 * with the status subresource) — get, list, watch, create, update, patch, delete,
 * deletecollection. Authorisation runs before routing to the object, as in the real server, so
 * the forbidden token gets 403 even for objects that do not exist.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ListMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ListMeta';
import { APIResourceList, type IAPIResourceList } from '@kubernetes-models/apimachinery/apis/meta/v1/APIResourceList';
import { APIGroup } from '@kubernetes-models/apimachinery/apis/meta/v1/APIGroup';
import { badRequest, entityTooLarge, forbidden, forbiddenPath, methodNotAllowed, notFound, pathNotFound, type ApiError } from './api-errors.js';
import {
  CAPTURE,
  STORAGE_VERSION_HASH,
  captureKey,
  captureList,
  createCapture,
  deleteCapture,
  listCaptures,
  metaOf,
  patchCapture,
  replaceCapture,
  type Result,
  type Subresource,
} from './capture-store.js';
import { takeWatchCut } from './api-faults.js';
import { matchesLabels, parseLabelSelector } from './label-selector.js';
import type { JsonObject } from './object-patch.js';
import { writeJson, type SimState } from './sim-state.js';

/** apiserver's default MaxRequestBodyBytes (3 MiB) */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** with no timeoutSeconds the real server picks a random timeout in [minRequestTimeout, 2×) = [30 min, 1 h) */
const DEFAULT_WATCH_TIMEOUT_MS = 1800_000;

type Route = { kind: 'group' } | { kind: 'discovery' } | { kind: 'collection'; ns?: string } | { kind: 'object'; ns: string; name: string; sub: Subresource };

export interface Caller {
  user: string;
  allowed: boolean;
  authenticated: boolean;
}

function route(path: string): Route | 'unknown' | undefined {
  let seg: string[];
  try {
    seg = path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return 'unknown';
  }
  if (seg[0] !== 'apis' || seg[1] !== CAPTURE.group) return undefined;
  if (seg.length === 2) return { kind: 'group' };
  if (seg[2] !== CAPTURE.version) return 'unknown';
  const rest = seg.slice(3);
  if (rest.length === 0) return { kind: 'discovery' };
  if (rest.length === 1 && rest[0] === CAPTURE.plural) return { kind: 'collection' };
  const [n, ns, plural, name, sub, ...more] = rest;
  if (n !== 'namespaces' || !ns || plural !== CAPTURE.plural || more.length) return 'unknown';
  if (name === undefined) return { kind: 'collection', ns };
  if (!name) return 'unknown';
  if (sub === undefined) return { kind: 'object', ns, name, sub: 'main' };
  return sub === 'status' ? { kind: 'object', ns, name, sub: 'status' } : 'unknown';
}

/** strconv.ParseBool, which the apiserver uses for `watch` and `allowWatchBookmarks`. */
const parseBool = (v: string | null) => v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);

function verbOf(r: Route, method: string, watch: boolean): string | undefined {
  if (r.kind === 'group' || r.kind === 'discovery') return method === 'GET' ? 'get' : undefined;
  if (r.kind === 'collection') {
    if (method === 'GET') return watch ? 'watch' : 'list';
    if (!r.ns) return undefined;
    return ({ POST: 'create', DELETE: 'deletecollection' } as Record<string, string>)[method];
  }
  const verbs: Record<string, string> =
    r.sub === 'status' ? { GET: 'get', PUT: 'update', PATCH: 'patch' } : { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  return verbs[method];
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function discoveryDocument(): IAPIResourceList {
  const doc: IAPIResourceList = {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: CAPTURE.apiVersion,
    resources: [
      {
        name: CAPTURE.plural,
        singularName: CAPTURE.singular,
        namespaced: true,
        kind: CAPTURE.kind,
        verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'],
        storageVersionHash: STORAGE_VERSION_HASH,
      },
      { name: `${CAPTURE.plural}/status`, singularName: '', namespaced: true, kind: CAPTURE.kind, verbs: ['get', 'patch', 'update'] },
    ],
  };
  new APIResourceList(doc).validate();
  return doc;
}

function groupDocument(): JsonObject {
  const v = { groupVersion: CAPTURE.apiVersion, version: CAPTURE.version };
  const doc = { kind: 'APIGroup', apiVersion: 'v1', name: CAPTURE.group, versions: [v], preferredVersion: v };
  new APIGroup(doc).validate();
  return doc;
}

/** Custom resources support only metadata.name and metadata.namespace as field selectors (no selectableFields here). */
function fieldSelector(expr: string | null): ((o: JsonObject) => boolean) | string {
  const terms: { key: string; neg: boolean; value: string }[] = [];
  for (const term of (expr ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)) {
    const m = /^([^!=]+?)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!m || !m[1]) return `invalid selector: '${term}'; can't understand '${term}'`;
    if (m[1] !== 'metadata.name' && m[1] !== 'metadata.namespace') return `field label not supported: ${m[1]}`;
    terms.push({ key: m[1].slice('metadata.'.length), neg: m[2] === '!=', value: m[3] ?? '' });
  }
  return (o) => terms.every((t) => (metaOf(o)[t.key] === t.value) !== t.neg);
}

/** Handles every path under /apis/forensics.amber.dev; false for other paths. */
export function serveCustomResources(state: SimState, req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): boolean {
  const r = route(url.pathname);
  if (r === undefined) return false;
  const fail = (e: ApiError) => writeJson(res, e.code, e.body);
  if (r === 'unknown') {
    fail(pathNotFound());
    return true;
  }
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const verb = verbOf(r, method, parseBool(q.get('watch')));
  if (!verb) {
    fail(methodNotAllowed());
    return true;
  }
  if (r.kind === 'group' || r.kind === 'discovery') {
    // discovery is allowed to every authenticated user (system:discovery), never to anonymous
    if (!caller.authenticated) fail(forbiddenPath(caller.user, 'get', url.pathname));
    else writeJson(res, 200, r.kind === 'group' ? groupDocument() : discoveryDocument());
    return true;
  }
  if (!caller.allowed) {
    fail(
      forbidden(caller.user, {
        verb,
        group: CAPTURE.group,
        resource: CAPTURE.plural,
        ...(r.kind === 'object' ? { name: r.name, ...(r.sub === 'status' ? { subresource: 'status' } : {}) } : {}),
        ...(r.ns ? { namespace: r.ns } : {}),
      }),
    );
    return true;
  }
  const reply = (out: Result | ApiError) => writeJson(res, out.code, out.body);
  if (verb === 'get' && r.kind === 'object') {
    const o = state.captures.get(captureKey(r.ns, r.name));
    if (o) writeJson(res, 200, o);
    else fail(notFound({ group: CAPTURE.group, resource: CAPTURE.plural }, r.name));
    return true;
  }
  if (verb === 'list' || verb === 'watch') {
    const sel = parseLabelSelector(q.get('labelSelector'));
    if (typeof sel === 'string') {
      fail(badRequest(sel));
      return true;
    }
    const fields = fieldSelector(q.get('fieldSelector'));
    if (typeof fields === 'string') {
      fail(badRequest(fields));
      return true;
    }
    const ns = r.kind === 'collection' ? r.ns : undefined;
    const match = (o: JsonObject) =>
      (ns === undefined || metaOf(o).namespace === ns) && matchesLabels(sel, metaOf(o).labels as Record<string, string> | undefined) && fields(o);
    if (verb === 'list') {
      const list = captureList(listCaptures(state, ns, match), state.resourceVersion);
      new ListMeta(list.metadata as never).validate();
      writeJson(res, 200, list);
      return true;
    }
    const rvParam = q.get('resourceVersion') ?? '';
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) {
      fail(badRequest(`invalid resource version: ${rvParam}`));
      return true;
    }
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (!Number.isInteger(timeout) || timeout < 0) {
      fail(badRequest(`invalid value for timeoutSeconds: ${q.get('timeoutSeconds') ?? ''}`));
      return true;
    }
    state.captureWatch.serve(res, {
      fromRv: rvParam === '' || rvParam === '0' ? undefined : Number(rvParam),
      current: () => listCaptures(state, ns, () => true),
      matches: match,
      timeoutMs: timeout > 0 ? timeout * 1000 : DEFAULT_WATCH_TIMEOUT_MS,
      bookmarks: parseBool(q.get('allowWatchBookmarks')),
      bookmarkMs: state.faults.watchBookmarkMs,
      bookmark: (rv) => ({ apiVersion: CAPTURE.apiVersion, kind: CAPTURE.kind, metadata: { resourceVersion: String(rv) } }),
      rv: () => state.resourceVersion,
      cut: () => takeWatchCut(state, url.pathname),
    });
    return true;
  }
  const dryRun = q.getAll('dryRun').includes('All');
  readBody(req)
    .then((body) => {
      if (body === 'too-large') return fail(entityTooLarge(MAX_BODY_BYTES));
      if (r.kind === 'collection') {
        const ns = r.ns ?? '';
        if (verb === 'create') return reply(createCapture(state, ns, body, { dryRun }));
        // deletecollection: each matching object is deleted as by DELETE; the answer lists them
        const sel = parseLabelSelector(q.get('labelSelector'));
        if (typeof sel === 'string') return fail(badRequest(sel));
        const deleted: unknown[] = [];
        for (const o of listCaptures(state, ns, (x) => matchesLabels(sel, metaOf(x).labels as Record<string, string> | undefined))) {
          const name = String(metaOf(o).name);
          const out = deleteCapture(state, ns, name, Buffer.alloc(0), { dryRun });
          deleted.push(out.body && (out.body as JsonObject).kind === 'Status' ? o : out.body);
        }
        return writeJson(res, 200, captureList(deleted as JsonObject[], state.resourceVersion));
      }
      if (verb === 'update') return reply(replaceCapture(state, r.ns, r.name, body, r.sub, { dryRun }));
      if (verb === 'patch') return reply(patchCapture(state, r.ns, r.name, req.headers['content-type'] ?? '', body, r.sub, { dryRun }));
      return reply(deleteCapture(state, r.ns, r.name, body, { dryRun }));
    })
    .catch((err: unknown) => {
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
    });
  return true;
}
