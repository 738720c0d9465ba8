import { randomBytes } from 'node:crypto';
import {
  Agent as HttpAgent,
  createServer as createHttpServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { isIP, Socket, type AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { TLSSocket } from 'node:tls';

/**
 * What to break, and where. Each probability (0..1) is rolled per matching request with the
 * proxy's seeded PRNG; the first fault that hits, in the order error5xx, slowDown, resetMidBody,
 * stall, is injected. Every matching request consumes the same number of draws, so a sequence
 * of requests sent one after another always meets the same faults for the same seed.
 */
export interface FaultSettings {
  /** Answer 500 InternalError or 503 ServiceUnavailable without forwarding. */
  readonly error5xx?: number;
  /** Pin error5xx to one status; by default the PRNG picks 500 or 503. */
  readonly error5xxStatus?: 500 | 503;
  /** Answer 503 SlowDown without forwarding. */
  readonly slowDown?: number;
  /**
   * Forward, then TCP-reset the client connection (and abort the upstream request) part way
   * through the request body — or, for a request without a body, part way through the response.
   */
  readonly resetMidBody?: number;
  /** Where resetMidBody cuts; default half the declared length, or 16 KiB when it is unknown. */
  readonly resetAfterBytes?: number;
  /** Read the request, never answer. */
  readonly stall?: number;
  /** Destroy a stalled connection (without an answer) after this long; default: hold it until close(). */
  readonly stallMs?: number;
  /** Fixed delay before a matching request is handled (faulted or forwarded). */
  readonly latencyMs?: number;
  /** Only requests with one of these methods are eligible (case-insensitive). */
  readonly methods?: readonly string[];
  /** Only requests whose path+query matches are eligible. */
  readonly pathPattern?: RegExp;
  /** Only requests for which this returns true are eligible. */
  readonly match?: (req: IncomingMessage) => boolean;
  /**
   * Stop injecting after this many faults, counted from start or from the last setFaults() that
   * carried maxFaults. Requests past the budget are forwarded and draw nothing from the PRNG.
   */
  readonly maxFaults?: number;
}

export interface FaultProxyOptions {
  /** Upstream base URL, http: or https:. Only its origin is used; paths are forwarded as received. */
  readonly target: string;
  /** Serve HTTPS with this key pair instead of plain HTTP. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /** CA bundle that signs an https upstream's certificate. */
  readonly upstreamCa?: string | Buffer;
  /** Verify an https upstream's certificate (default true). */
  readonly rejectUnauthorized?: boolean;
  /** PRNG seed (default 1). */
  readonly seed?: number;
  /** Injected errors are S3 XML errors (else a JSON body). */
  readonly s3?: boolean;
  readonly faults?: FaultSettings;
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string;
}

/** Live counters; every field only grows. */
export interface FaultCounts {
  /** Requests received, faulted or not. */
  requests: number;
  /** Requests that passed the filters (were eligible for latency and faults). */
  matched: number;
  /** Requests passed through to the upstream untouched (latency aside). */
  forwarded: number;
  /** Requests held back by latencyMs. */
  delayed: number;
  /** error5xx answers (500 InternalError or 503 ServiceUnavailable). */
  injected5xx: number;
  /** 503 SlowDown answers. */
  slowDown: number;
  /** resetMidBody injections, during the request body or the response. */
  resets: number;
  /** The subset of resets that cut a response (requests without a body). */
  truncated: number;
  /** Requests stalled. */
  stalls: number;
  /** Upstream failures the proxy turned into 502 or a cut connection. */
  upstreamErrors: number;
}

export interface FaultProxy {
  /** e.g. http://127.0.0.1:PORT (https: when tls was given). */
  readonly url: string;
  readonly port: number;
  readonly counts: Readonly<FaultCounts>;
  /** Merges into the current faults; a key given as undefined removes that setting. */
  setFaults(partial: FaultSettings): void;
  /** Destroys every open connection (stalled ones too) and upstream request. */
  close(): Promise<void>;
}

type Fault = 'error5xx' | 'slowDown' | 'resetMidBody' | 'stall';

const DEFAULT_RESET_AFTER = 16 * 1024;

// Hop-by-hop: they describe one connection, not the message, and the proxy owns both of its
// connections. Everything else — Host, the x-amz-* signed headers, Expect, Transfer-Encoding
// (which tells node to frame the body the same way) — is passed on as received.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

/**
 * Starts a reverse proxy on a real socket that forwards to `target` and injects faults: S3-style
 * 5xx answers, TCP resets in the middle of a body, stalls and latency. Bodies are streamed both
 * ways; the Host header is forwarded unchanged so SigV4 signatures still verify upstream.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const upstreamTls = target.protocol === 'https:';
  if (!upstreamTls && target.protocol !== 'http:') throw new Error(`fault proxy: unsupported target ${options.target}`);
  const targetHost = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const targetPort = Number(target.port || (upstreamTls ? 443 : 80));
  const agent = upstreamTls
    ? new HttpsAgent({ keepAlive: true, ca: options.upstreamCa, rejectUnauthorized: options.rejectUnauthorized ?? true })
    : new HttpAgent({ keepAlive: true });
  const send = upstreamTls ? httpsRequest : httpRequest;

  const random = mulberry32(options.seed ?? 1);
  let faults: FaultSettings = { ...options.faults };
  let faultsInjected = 0;
  let closing = false;
  const counts: FaultCounts = {
    requests: 0,
    matched: 0,
    forwarded: 0,
    delayed: 0,
    injected5xx: 0,
    slowDown: 0,
    resets: 0,
    truncated: 0,
    stalls: 0,
    upstreamErrors: 0,
  };
  const sockets = new Set<Socket>();
  const upstreams = new Set<ClientRequest>();
  const timers = new Set<NodeJS.Timeout>();

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
    return timer;
  };

  const eligible = (f: FaultSettings, req: IncomingMessage): boolean => {
    if (f.methods && !f.methods.some((m) => m.toUpperCase() === req.method)) return false;
    if (f.pathPattern) {
      f.pathPattern.lastIndex = 0; // a /g or /y pattern keeps state between test() calls
      if (!f.pathPattern.test(req.url ?? '/')) return false;
    }
    return !f.match || f.match(req);
  };

  const pickFault = (f: FaultSettings): { fault: Fault | undefined; status: 500 | 503 } => {
    if (f.maxFaults !== undefined && faultsInjected >= f.maxFaults) return { fault: undefined, status: 500 };
    // Always five draws, whichever faults are switched on, so the sequence stays reproducible.
    const rolls = [random(), random(), random(), random()];
    const status = random() < 0.5 ? 500 : 503;
    const order: Fault[] = ['error5xx', 'slowDown', 'resetMidBody', 'stall'];
    const fault = order.find((name, i) => (rolls[i] ?? 1) < (f[name] ?? 0));
    if (fault) faultsInjected++;
    return { fault, status: f.error5xxStatus ?? status };
  };

  const answerError = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean, status: number, code: string, message: string) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const body = options.s3
      ? `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`
      : JSON.stringify({ error: { code, message, requestId } });
    const headers: Record<string, string | number> = {
      'content-type': options.s3 ? 'application/xml' : 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (options.s3) headers['x-amz-request-id'] = requestId;
    // A client waiting for 100 Continue will not send its body; the connection cannot be reused
    // because the server would read the next request as that body.
    if (expectContinue) headers['connection'] = 'close';
    else req.resume();
    res.writeHead(status, headers).end(body);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean, reset: { after?: number } | undefined) => {
    const up = send({
      host: targetHost,
      port: targetPort,
      method: req.method,
      path: req.url,
      headers: passHeaders(req.rawHeaders),
      agent,
      setHost: false,
      // SNI and certificate checks are about the target, not the Host the client asked for.
      ...(upstreamTls ? { servername: isIP(targetHost) ? '' : targetHost } : {}),
    });
    upstreams.add(up);
    up.once('close', () => upstreams.delete(up));
    let cut = false;
    const cutConnection = (truncated: boolean) => {
      if (cut) return;
      cut = true;
      counts.resets++;
      if (truncated) counts.truncated++;
      up.destroy();
      resetSocket(req.socket);
    };

    // The client went away (or we cut it): the upstream must see an aborted request too.
    res.once('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on('continue', () => {
      if (expectContinue && !res.headersSent) res.writeContinue();
    });
    up.on('error', () => {
      if (cut || res.writableFinished || res.destroyed) return;
      counts.upstreamErrors++;
      if (res.headersSent) {
        req.socket.destroy();
      } else {
        req.unpipe(up);
        answerError(req, res, expectContinue, 502, 'BadGateway', 'The fault proxy could not reach the upstream.');
      }
    });

    const requestHasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (reset && requestHasBody) {
      const declared = Number(req.headers['content-length'] ?? NaN);
      const wanted = reset.after ?? (Number.isFinite(declared) ? Math.floor(declared / 2) : DEFAULT_RESET_AFTER);
      // Never the whole declared body: the upstream must not see a complete request.
      const limit = Number.isFinite(declared) ? Math.min(wanted, declared - 1) : wanted;
      let sent = 0;
      let tripped = false;
      req.on('data', (chunk: Buffer) => {
        if (tripped) return;
        if (sent + chunk.length < limit) {
          sent += chunk.length;
          if (!up.write(chunk)) {
            req.pause();
            up.once('drain', () => req.resume());
          }
          return;
        }
        const room = Math.max(0, limit - sent);
        tripped = true;
        req.pause();
        // Let the first part reach the upstream's socket before both connections die.
        if (room > 0) up.write(chunk.subarray(0, room), () => cutConnection(false));
        else cutConnection(false);
      });
      // A body that ends before the limit (chunked, unknown length): cut before its end goes upstream.
      req.once('end', () => {
        if (!tripped) cutConnection(false);
      });
      // An early upstream answer (say 403) must not rescue the request from its fault.
      up.once('response', (upRes) => {
        upRes.resume();
        cutConnection(false);
      });
      return;
    }

    req.pipe(up);
    req.once('error', () => up.destroy());

    up.once('response', (upRes) => {
      const head = () => res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, passHeaders(upRes.rawHeaders));
      if (!reset) {
        head();
        pipeline(upRes, res, () => {});
        return;
      }
      const declared = Number(upRes.headers['content-length'] ?? NaN);
      const bodiless = req.method === 'HEAD' || upRes.statusCode === 204 || upRes.statusCode === 304 || declared === 0;
      const limit = reset.after ?? (Number.isFinite(declared) ? Math.floor(declared / 2) : DEFAULT_RESET_AFTER);
      if (bodiless || limit <= 0) {
        upRes.resume();
        cutConnection(true);
        return;
      }
      head();
      let sent = 0;
      upRes.on('data', (chunk: Buffer) => {
        if (sent >= limit) return;
        const room = limit - sent;
        const part = chunk.length < room ? chunk : chunk.subarray(0, room);
        sent += part.length;
        const full = sent >= limit;
        if (full) upRes.pause();
        if (!res.write(part, full ? () => cutConnection(true) : undefined) && !full) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.once('end', () => {
        if (sent < limit) res.write('', () => cutConnection(true));
      });
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    counts.requests++;
    res.sendDate = false; // the upstream's Date, or none, as it sent it
    const f = faults;
    if (!eligible(f, req)) {
      counts.forwarded++;
      forward(req, res, expectContinue, undefined);
      return;
    }
    counts.matched++;
    // Decided on arrival, so latency does not reorder the PRNG draws.
    const { fault, status } = pickFault(f);
    const act = () => {
      if (closing || res.destroyed) return;
      switch (fault) {
        case 'error5xx':
          counts.injected5xx++;
          if (status === 500) answerError(req, res, expectContinue, 500, 'InternalError', 'We encountered an internal error. Please try again.');
          else answerError(req, res, expectContinue, 503, 'ServiceUnavailable', 'Service is unable to handle request.');
          return;
        case 'slowDown':
          counts.slowDown++;
          answerError(req, res, expectContinue, 503, 'SlowDown', 'Please reduce your request rate.');
          return;
        case 'resetMidBody':
          forward(req, res, expectContinue, { after: f.resetAfterBytes });
          return;
        case 'stall': {
          counts.stalls++;
          // Take the body so the client is left waiting for an answer, not for window space.
          req.resume();
          if (f.stallMs !== undefined) {
            const timer = later(f.stallMs, () => req.socket.destroy());
            req.socket.once('close', () => {
              clearTimeout(timer);
              timers.delete(timer);
            });
          }
          return;
        }
        default:
          counts.forwarded++;
          forward(req, res, expectContinue, undefined);
      }
    };
    if (f.latencyMs !== undefined && f.latencyMs > 0) {
      counts.delayed++;
      later(f.latencyMs, act);
    } else {
      act();
    }
  };

  // No request timeout: a multi-GiB upload through the proxy may legitimately take minutes.
  const serverOptions = { requestTimeout: 0 };
  const server: Server = options.tls ? createHttpsServer({ ...serverOptions, key: options.tls.key, cert: options.tls.cert }) : createHttpServer(serverOptions);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => handle(req, res, false));
  // Without this listener node would send 100 Continue itself, before the upstream agreed.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `${options.tls ? 'https' : 'http'}://${hostPart}:${address.port}`,
    port: address.port,
    counts,
    setFaults(partial) {
      faults = { ...faults, ...partial };
      if ('maxFaults' in partial) faultsInjected = 0;
    },
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const up of upstreams) up.destroy();
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}

function passHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1] as string);
  }
  return out;
}

/** RST rather than FIN, so the peer sees ECONNRESET. A TLS socket is reset through its TCP socket. */
function resetSocket(socket: Socket): void {
  const tcp = socket instanceof TLSSocket ? (socket as TLSSocket & { _parent?: unknown })._parent : socket;
  try {
    if (tcp instanceof Socket && !tcp.destroyed) tcp.resetAndDestroy();
  } catch {
    // not a TCP handle after all; a plain destroy still ends the connection
  }
  socket.destroy();
}

/** mulberry32: a tiny, good-enough seeded PRNG yielding numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
