/**
 * Scripted failures of the simulated API server: the answers a real kube-apiserver gives when it
 * is busy, starting, failing or going away, each at the point of the handler chain where the real
 * one gives it (apiserver DefaultBuildHandlerChain: request info → wait group → authentication →
 * priority and fairness → authorization → storage).
 *
 * - `storageInitializing`: storage/cacher (ResilientWatchCacheInitialization): a list or watch of a
 *   resource whose watch cache is not ready yet — just after a CRD was installed, or after the
 *   cacher lost etcd — is refused with `errors.NewTooManyRequests("storage is (re)initializing",
 *   retryAfter)`, retryAfter = clamp(e^(0.06·downtime s), 1, 30) (cacher util.go
 *   calculateRetryAfterForUnreadyCache); responsewriters.ErrorNegotiated copies
 *   `details.retryAfterSeconds` into the `Retry-After` header.
 * - `tooManyRequests`: server/filters priority-and-fairness.go (and maxinflight.go) reject with
 *   `tooManyRequests()`: `Retry-After` (1 s, doubled by the dropped-requests tracker up to 32) and
 *   net/http's `http.Error` — a text/plain body `Too many requests, please try again later.\n`,
 *   not a Status — plus the X-Kubernetes-PF-* UIDs of the flow schema and priority level.
 * - `shuttingDown`: server/filters waitgroup.go: after the shutdown delay, `Retry-After: 1` and the
 *   Status of `errors.NewServiceUnavailable("apiserver is shutting down")` (503), before
 *   authentication.
 * - `internalError`: a storage error that is not a Status (etcd timing out): ErrorToAPIStatus makes
 *   it a 500 with reason "" and the raw message.
 * - `reset`, `resetAfterHeaders`: the connection is destroyed before any answer, or after a 200's
 *   headers (a load balancer or the apiserver process going away).
 * - `cutWatch`: a Capture watch is served, then cut: `close` ends the chunked body cleanly,
 *   `reset` destroys the connection, `truncate` writes half of the next event line and then
 *   destroys it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { internalError } from './api-errors.js';
import { statusObject } from './k8s-objects.js';
import { goHttpError, send, writeJson, type SimState } from './sim-state.js';

export type ApiFaultAnswer = 'storageInitializing' | 'tooManyRequests' | 'shuttingDown' | 'internalError' | 'reset' | 'resetAfterHeaders' | 'cutWatch';

export interface ApiFault {
  answer: ApiFaultAnswer;
  /** how many matching requests get this answer (default 1; `Infinity` until the fault is removed) */
  times?: number;
  /** Kubernetes verbs it applies to (`get list watch create update patch delete deletecollection`); default all */
  verb?: string | string[];
  /** path prefix (or pattern) it applies to, e.g. `/apis/forensics.amber.dev/`; default all */
  path?: string | RegExp;
  /** the Retry-After (and details.retryAfterSeconds) of 429/503 answers; default 1, as the real filters start */
  retryAfterSeconds?: number;
  /** replaces the real text (storageInitializing, tooManyRequests, shuttingDown, internalError) */
  message?: string;
  /** cutWatch: how the stream ends (default `reset`) */
  cut?: WatchCut['how'];
  /** cutWatch: after this many lines (replayed and live events, bookmarks) — default 0, right after the headers */
  afterEvents?: number;
  /** cutWatch: or this long after the stream started, whichever comes first */
  afterMs?: number;
  /** filled in by the sim: when each request it answered arrived (performance.timeOrigin + performance.now()) */
  answeredAt?: number[];
}

export interface WatchCut {
  how: 'close' | 'reset' | 'truncate';
  afterEvents?: number;
  afterMs?: number;
}

/** Where in the handler chain a fault is answered (see the module comment). */
type Stage = 'connection' | 'flowControl' | 'storage';

const STAGE: Record<ApiFaultAnswer, Stage> = {
  reset: 'connection',
  resetAfterHeaders: 'connection',
  shuttingDown: 'connection',
  tooManyRequests: 'flowControl',
  storageInitializing: 'storage',
  internalError: 'storage',
  cutWatch: 'storage',
};

/** strconv.ParseBool, as the apiserver reads `watch` */
const isWatch = (v: string | null) => v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);

/**
 * The verb the apiserver's RequestInfoFactory gives a request: GET on a collection is `list`
 * (`watch` with ?watch), on one object `get`; POST `create`; PUT `update`; DELETE on a collection
 * `deletecollection`. Subresources (`/status`, `/log`) take their object's verb.
 */
export function requestVerb(method: string, url: URL): string {
  const seg = url.pathname.split('/').filter(Boolean);
  const rest = seg[0] === 'api' ? seg.slice(2) : seg[0] === 'apis' ? seg.slice(3) : [];
  const scoped = rest[0] === 'namespaces' && rest.length >= 3 ? rest.slice(2) : rest;
  const collection = scoped.length <= 1;
  switch (method) {
    case 'GET':
    case 'HEAD':
      return collection ? (isWatch(url.searchParams.get('watch')) ? 'watch' : 'list') : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return collection ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

function applies(f: ApiFault, verb: string, path: string): boolean {
  if ((f.times ?? 1) <= 0) return false;
  if (f.verb !== undefined && !(Array.isArray(f.verb) ? f.verb : [f.verb]).includes(verb)) return false;
  if (f.answer === 'cutWatch' && verb !== 'watch') return false;
  if (f.path === undefined) return true;
  return typeof f.path === 'string' ? path.startsWith(f.path) : f.path.test(path);
}

/**
 * The first fault in the list that applies to the request (verb, path, times left): faults are
 * used in list order. It is answered only at its own stage of the chain; an earlier answer (401,
 * 403) leaves it for the next request.
 */
function first(state: SimState, verb: string, path: string): ApiFault | undefined {
  return state.faults.apiFaults.find((x) => applies(x, verb, path));
}

/** Counts a fault down and notes when the request it answers arrived. */
function consume(f: ApiFault): ApiFault {
  f.times = (f.times ?? 1) - 1;
  (f.answeredAt ??= []).push(performance.timeOrigin + performance.now());
  return f;
}

const retryAfter = (f: ApiFault) => Math.max(1, Math.floor(f.retryAfterSeconds ?? 1));

/**
 * Answers the request if a fault of this stage applies to it; true when it did. `storage` faults
 * apply only to requests that pass authorization (`allowed`); a `cutWatch` is not answered here
 * (see takeWatchCut).
 */
export function answerFault(state: SimState, stage: Stage, req: IncomingMessage, res: ServerResponse, url: URL, allowed = true): boolean {
  if (stage === 'storage' && !allowed) return false;
  const next = first(state, requestVerb(req.method ?? 'GET', url), url.pathname);
  if (!next || STAGE[next.answer] !== stage || next.answer === 'cutWatch') return false;
  const f = consume(next);
  switch (f.answer) {
    case 'reset':
      req.socket.destroy();
      return true;
    case 'resetAfterHeaders':
      res.writeHead(200, { 'Audit-Id': randomUUID(), 'Cache-Control': 'no-cache, private', 'Content-Type': 'application/json' });
      res.flushHeaders();
      setImmediate(() => req.socket.destroy());
      return true;
    case 'shuttingDown':
      // before priority and fairness: no X-Kubernetes-PF-* headers
      send(res, 503, `${JSON.stringify(statusObject(503, 'ServiceUnavailable', f.message ?? 'apiserver is shutting down'))}\n`, 'application/json', {
        'Audit-Id': randomUUID(),
        'Cache-Control': 'no-cache, private',
        'Retry-After': String(retryAfter(f)),
        'X-Content-Type-Options': 'nosniff',
      });
      return true;
    case 'tooManyRequests':
      res.setHeader('Retry-After', String(retryAfter(f)));
      res.setHeader('Audit-Id', randomUUID());
      res.setHeader('Cache-Control', 'no-cache, private');
      res.setHeader('X-Kubernetes-Pf-Flowschema-Uid', '8f3e1a94-5d7e-4b8e-9c52-0f1a2b3c4d5e');
      res.setHeader('X-Kubernetes-Pf-Prioritylevel-Uid', '2c9b7f10-6e4d-4a3b-8f21-9d8c7b6a5e4f');
      goHttpError(res, 429, f.message ?? 'Too many requests, please try again later.');
      return true;
    case 'storageInitializing':
      res.setHeader('Retry-After', String(retryAfter(f)));
      writeJson(res, 429, statusObject(429, 'TooManyRequests', f.message ?? 'storage is (re)initializing', { retryAfterSeconds: retryAfter(f) }));
      return true;
    case 'internalError': {
      const e = internalError(f.message ?? 'etcdserver: request timed out');
      writeJson(res, e.code, e.body);
      return true;
    }
    default:
      return false;
  }
}

/** The cut planned for a Capture watch about to be served, if a `cutWatch` fault applies (consumed). */
export function takeWatchCut(state: SimState, path: string): WatchCut | undefined {
  const next = first(state, 'watch', path);
  if (!next || next.answer !== 'cutWatch') return undefined;
  const f = consume(next);
  const afterEvents = f.afterEvents ?? (f.afterMs === undefined ? 0 : undefined);
  return { how: f.cut ?? 'reset', ...(afterEvents !== undefined ? { afterEvents } : {}), ...(f.afterMs !== undefined ? { afterMs: f.afterMs } : {}) };
}
