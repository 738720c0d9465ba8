/** The state the sim's listeners share, and small HTTP helpers. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiFault } from './api-faults.js';
import type { PodRecord } from './k8s-objects.js';
import type { JsonObject } from './object-patch.js';
import type { RuntimeLayout } from './runtime-metadata.js';
import type { WatchHub } from './watch-stream.js';

export interface SimFaults {
  /** API listener answers nothing: sockets are destroyed */
  apiDown: boolean;
  /** kubelet listeners destroy sockets */
  kubeletDown: boolean;
  /** runtime error text → 500 "checkpointing of ns/pod/ctr failed (<text>)" */
  checkpointError?: string;
  /** slow checkpoint: the archive appears after the delay */
  checkpointDelayMs: number;
  /** every token is unknown → 401 from both API server and kubelet */
  rejectToken: boolean;
  /** kubelet answers 404 for /checkpoint/... like a kubelet without the ContainerCheckpoint gate */
  checkpointFeatureOff: boolean;
  /**
   * CRIU's configuration on the node lacks `tcp-established` (CRI-O never passes it): every
   * checkpoint fails with CRI-O's 500 quoting CRIU's log (the sim's containers all hold live TCP
   * connections)
   */
  tcpEstablishedMissing: boolean;
  /**
   * how many past Capture events the API server remembers for watches (its watch cache; default
   * 100). A watch from a resourceVersion older than the window gets 410 Expired. 0: none — every
   * watch from a resourceVersion before the latest Capture write is expired.
   */
  watchWindow: number;
  /** interval of BOOKMARK events on watches that ask for them (the real cacher: about a minute) */
  watchBookmarkMs: number;
  /**
   * scripted API server failures (429 with Retry-After, 500, 503, cut connections, cut watches),
   * consumed in order by the requests they apply to; see api-faults.ts and the README
   */
  apiFaults: ApiFault[];
}

export interface CheckpointReceipt {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  /** the `timeout` query parameter as sent (last value wins, as in the kubelet); undefined when absent or unparsable */
  timeoutSeconds: number | undefined;
  /** performance.timeOrigin + performance.now(), ms, taken when the request reached the kubelet */
  receivedAt: number;
  /** HTTP status answered; 0 while the checkpoint is still running */
  status: number;
  /** absolute path of the archive, on 200 */
  path?: string;
}

export interface ArchiveSettings {
  layout: RuntimeLayout;
  /** size of pages-1.img (pid 1's memory); default 256 KiB */
  pagesBytes: number;
  /** the kubelet's CRI runtime-request-timeout (default 2 min): a smaller `timeout` is raised to it */
  runtimeDefaultTimeoutSeconds: number;
}

export interface Identity {
  user: string;
  allowed: boolean;
}

export interface SimNode {
  name: string;
  index: number;
  kubeletPort: number;
  advertisedPort?: number;
  createdAt: number;
  checkpointDir: string;
}

export interface SimState {
  readonly faults: SimFaults;
  readonly receipts: CheckpointReceipt[];
  archive: ArchiveSettings;
  readonly pods: Map<string, PodRecord>;
  readonly logs: Map<string, string[]>;
  readonly nodes: SimNode[];
  readonly tokens: Map<string, Identity>;
  resourceVersion: number;
  /** Captures as served, keyed `namespace/name` */
  readonly captures: Map<string, JsonObject>;
  readonly captureWatch: WatchHub;
  /** Pods and NetworkPolicies created through the API (sandbox-resources.ts), keyed `<plural>/<namespace>/<name>` */
  readonly created: Map<string, JsonObject>;
  /** events.k8s.io/v1 Events created through the API (event-resources.ts), keyed `namespace/name` */
  readonly events: Map<string, JsonObject>;
  /** the nodes' local time zone (`UTC`, `±HH:MM`, or an IANA name): archive names and runtime log times */
  readonly timeZone: string;
  /** aborted by close(): running checkpoints stop waiting and write nothing */
  readonly closing: AbortSignal;
}

export const podKey = (ns: string, name: string) => `${ns}/${name}`;
export const logKey = (ns: string, pod: string, container: string) => `${ns}/${pod}/${container}`;

export type Auth = { kind: 'ok'; id: Identity } | { kind: 'anonymous' } | { kind: 'unauthorized' };

/** Bearer-token authentication, as both the API server and the kubelet (webhook token authn) do it. */
export function authenticate(state: SimState, req: IncomingMessage): Auth {
  const h = req.headers.authorization;
  if (!h) return { kind: 'anonymous' };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m || !m[1] || state.faults.rejectToken) return { kind: 'unauthorized' };
  const id = state.tokens.get(m[1]);
  return id ? { kind: 'ok', id } : { kind: 'unauthorized' };
}

export function send(res: ServerResponse, status: number, body: string | Buffer, contentType: string | undefined, headers: Record<string, string> = {}): void {
  const h: Record<string, string | number> = { ...headers, 'Content-Length': Buffer.byteLength(body) };
  if (contentType) h['Content-Type'] = contentType;
  res.writeHead(status, h);
  res.end(body);
}

/** A JSON API answer with the headers the real API server adds. */
export function writeJson(res: ServerResponse, status: number, obj: unknown): void {
  send(res, status, `${JSON.stringify(obj)}\n`, 'application/json', {
    'Audit-Id': randomUUID(),
    'Cache-Control': 'no-cache, private',
    'X-Kubernetes-Pf-Flowschema-Uid': '8f3e1a94-5d7e-4b8e-9c52-0f1a2b3c4d5e',
    'X-Kubernetes-Pf-Prioritylevel-Uid': '2c9b7f10-6e4d-4a3b-8f21-9d8c7b6a5e4f',
  });
}

/** Go's http.Error: text/plain; charset=utf-8, nosniff, message + "\n". */
export function goHttpError(res: ServerResponse, status: number, message: string): void {
  send(res, status, `${message}\n`, 'text/plain; charset=utf-8', { 'X-Content-Type-Options': 'nosniff' });
}

/** go-restful WriteError / WriteErrorString: the bare text, no newline; net/http sniffs text/plain. */
export function restfulError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  send(res, status, message, 'text/plain; charset=utf-8', headers);
}

export function rfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
