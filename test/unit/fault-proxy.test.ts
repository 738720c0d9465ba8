import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  Agent as HttpAgent,
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import t from 'tap';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../helpers/fault-proxy.js';
import { makeTestPki } from '../helpers/make-certs.js';

const MiB = 1024 * 1024;
const BLOCK = randomBytes(MiB);

/** Deterministic bytes: BLOCK over and over, each copy stamped with its index. */
async function* pattern(size: number): AsyncGenerator<Buffer> {
  for (let offset = 0, i = 0; offset < size; offset += MiB, i++) {
    const chunk = Buffer.from(BLOCK.subarray(0, Math.min(MiB, size - offset)));
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

async function sha256Of(size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of pattern(size)) hash.update(chunk);
  return hash.digest('hex');
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  bytes: number;
  sha256?: string;
  /** undefined while in flight, then whether the whole body arrived. */
  complete?: boolean;
}

type Route = (req: IncomingMessage, res: ServerResponse, seen: Seen) => boolean;

interface Upstream {
  readonly url: string;
  readonly seen: Seen[];
  route: Route | undefined;
  /** Answer Expect: 100-continue requests with 403 instead of 100 Continue. */
  refuseContinue: boolean;
  close(): Promise<void>;
}

/**
 * A small real server: records every request (bytes, hash, whether it completed), serves
 * /download?size=N with a content length and /chunked?size=N without, and answers anything else
 * with a JSON summary of what it received.
 */
async function startUpstream(tls?: { key: Buffer; cert: Buffer }): Promise<Upstream> {
  const seen: Seen[] = [];
  const upstream: Upstream = { url: '', seen, route: undefined, refuseContinue: false, close: async () => {} };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bytes: 0 };
    seen.push(entry);
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      entry.bytes += chunk.length;
      hash.update(chunk);
    });
    req.once('close', () => {
      entry.complete = req.complete;
    });
    if (upstream.route?.(req, res, entry)) return;
    finished(req).then(
      () => {
        entry.sha256 = hash.digest('hex');
        const url = new URL(entry.url, 'http://upstream');
        const size = Number(url.searchParams.get('size') ?? 0);
        if (url.pathname === '/download') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
          Readable.from(pattern(size)).pipe(res);
        } else if (url.pathname === '/chunked') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          Readable.from(pattern(size)).pipe(res);
        } else {
          res.writeHead(200, 'Fine Thanks', [
            'Content-Type',
            'application/json',
            'ETag',
            '"etag-1"',
            'Set-Cookie',
            'a=1',
            'Set-Cookie',
            'b=2',
            'X-Upstream',
            'yes',
          ]);
          res.end(JSON.stringify({ bytes: entry.bytes, sha256: entry.sha256 }));
        }
      },
      () => {},
    );
  };
  const server: Server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, handler) : createHttpServer(handler);
  // Decide on Expect: 100-continue like S3 does: from the headers alone.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (upstream.refuseContinue) {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bytes: 0 });
      res.writeHead(403, { 'content-type': 'application/xml', connection: 'close' }).end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    res.writeContinue();
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(upstream, {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

interface Reply {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** The body when it is under 1 MiB; large ones are only hashed. */
  readonly text: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly sawContinue: boolean;
}

interface CallError extends Error {
  code?: string;
  /** Set for socket errors (read/write ECONNRESET: a TCP reset), absent for a plain hang-up. */
  syscall?: string;
  /** Response bytes that arrived before the failure, when a response had started. */
  bytes?: number;
  status?: number;
}

interface CallOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | number>;
  readonly body?: Buffer | Readable;
  readonly ca?: Buffer;
  readonly agent?: HttpAgent | false;
  readonly timeoutMs?: number;
  /** Send Expect: 100-continue and hold the body until 100 Continue arrives. */
  readonly expectContinue?: boolean;
}

/** One real HTTP(S) request; resolves with the whole answer or rejects with what broke. */
function call(base: string, path: string, o: CallOptions = {}): Promise<Reply> {
  const url = new URL(path, base);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = { ...o.headers, ...(o.expectContinue ? { expect: '100-continue' } : {}) };
  return new Promise((resolve, reject) => {
    let sawContinue = false;
    let bytes = 0;
    let status: number | undefined;
    const fail = (err: CallError) => {
      err.bytes = bytes;
      if (status !== undefined) err.status = status;
      reject(err);
    };
    const req = send(url, { method: o.method ?? 'GET', headers, agent: o.agent ?? false, ...(o.ca ? { ca: o.ca } : {}) });
    if (o.timeoutMs !== undefined) {
      req.setTimeout(o.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    }
    req.on('error', fail);
    const writeBody = () => {
      if (o.body instanceof Readable) {
        o.body.on('error', fail);
        o.body.pipe(req);
      } else {
        req.end(o.body);
      }
    };
    if (o.expectContinue) {
      req.flushHeaders();
      req.once('continue', () => {
        sawContinue = true;
        writeBody();
      });
    } else {
      writeBody();
    }
    req.once('response', (res) => {
      status = res.statusCode;
      const hash = createHash('sha256');
      const small: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
        if (bytes < MiB) small.push(chunk);
      });
      res.once('error', fail);
      res.once('aborted', () => fail(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      res.once('end', () => {
        if (res.complete)
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            text: Buffer.concat(small).toString(),
            bytes,
            sha256: hash.digest('hex'),
            sawContinue,
          });
      });
    });
  });
}

async function rejection(promise: Promise<unknown>): Promise<CallError> {
  try {
    await promise;
  } catch (err) {
    return err as CallError;
  }
  throw new Error('expected the request to fail');
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const S3_ERROR = (code: string, message: string) =>
  new RegExp(
    `^<\\?xml version="1\\.0" encoding="UTF-8"\\?><Error><Code>${code}</Code><Message>${message.replace(/\./g, '\\.')}</Message><RequestId>[0-9A-F]+</RequestId></Error>$`,
  );

t.test('fault proxy over plain HTTP', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const proxies: FaultProxy[] = [];
  t.teardown(() => Promise.all(proxies.map((p) => p.close())));
  const proxy = async (o: Partial<FaultProxyOptions> = {}) => {
    const p = await startFaultProxy({ target: upstream.url, s3: true, ...o });
    proxies.push(p);
    return p;
  };
  t.beforeEach(() => {
    upstream.seen.length = 0;
    upstream.route = undefined;
    upstream.refuseContinue = false;
  });

  await t.test('forwards a streamed 50 MiB upload byte for byte with Host, path, query and headers unchanged', async (t) => {
    const p = await proxy();
    const size = 50 * MiB;
    const res = await call(p.url, '/bucket/key?partNumber=3&uploadId=u-1', {
      method: 'PUT',
      headers: { host: 'bucket.s3.example.test:9000', 'content-length': size, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': '20260101T000000Z' },
      body: Readable.from(pattern(size)),
    });
    t.equal(res.status, 200);
    t.equal(res.statusMessage, 'Fine Thanks');
    t.same(JSON.parse(res.text), { bytes: size, sha256: await sha256Of(size) }, 'the upstream got exactly the bytes sent');
    const seen = upstream.seen[0]!;
    t.equal(seen.method, 'PUT');
    t.equal(seen.url, '/bucket/key?partNumber=3&uploadId=u-1');
    t.equal(seen.headers.host, 'bucket.s3.example.test:9000', 'Host is the one the client signed, not the upstream address');
    t.equal(seen.headers['content-length'], String(size));
    t.equal(seen.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    t.equal(seen.headers['x-amz-date'], '20260101T000000Z');
    t.same(res.headers['set-cookie'], ['a=1', 'b=2'], 'repeated response headers survive');
    t.equal(res.headers['etag'], '"etag-1"');
    t.equal(res.headers['x-upstream'], 'yes');
    t.equal(p.counts.forwarded, 1);
    t.equal(p.counts.requests, 1);
  });

  await t.test('forwards a 50 MiB download and a chunked body of unknown length intact', async (t) => {
    const p = await proxy();
    const size = 50 * MiB;
    const download = await call(p.url, `/download?size=${size}`);
    t.equal(download.headers['content-length'], String(size));
    t.equal(download.bytes, size);
    t.equal(download.sha256, await sha256Of(size));

    const chunkedUpload = await call(p.url, '/bucket/chunked', { method: 'PUT', body: Readable.from(pattern(3 * MiB + 17)) });
    t.same(JSON.parse(chunkedUpload.text), { bytes: 3 * MiB + 17, sha256: await sha256Of(3 * MiB + 17) });
    t.equal(upstream.seen[1]!.headers['transfer-encoding'], 'chunked');

    const chunkedDownload = await call(p.url, `/chunked?size=${2 * MiB}`);
    t.equal(chunkedDownload.headers['transfer-encoding'], 'chunked');
    t.equal(chunkedDownload.sha256, await sha256Of(2 * MiB));
  });

  await t.test('streams instead of buffering: each side sees the first MiB before the other sends the rest', async (t) => {
    const p = await proxy();
    const body = new Readable({ read() {} });
    body.push(BLOCK);
    const upload = call(p.url, '/bucket/stream', { method: 'PUT', headers: { 'content-length': 2 * MiB }, body });
    await until('the upstream to receive the first MiB', () => (upstream.seen[0]?.bytes ?? 0) >= MiB);
    body.push(BLOCK);
    body.push(null);
    t.equal(JSON.parse((await upload).text).bytes, 2 * MiB);

    let clientBytes = 0;
    upstream.route = (req, res) => {
      res.writeHead(200, { 'content-length': 2 * MiB });
      res.write(BLOCK);
      until('the client to receive the first MiB', () => clientBytes >= MiB).then(
        () => res.end(BLOCK),
        () => res.destroy(),
      );
      return true;
    };
    const res = await new Promise<number>((resolve, reject) => {
      httpRequest(`${p.url}/slow-download`, { agent: false }, (r) => {
        r.on('data', (c: Buffer) => (clientBytes += c.length));
        r.once('end', () => resolve(clientBytes));
      })
        .on('error', reject)
        .end();
    });
    t.equal(res, 2 * MiB);
  });

  await t.test('passes Expect: 100-continue through: the client sends its body only once the upstream agrees', async (t) => {
    const p = await proxy();
    const ok = await call(p.url, '/bucket/expect', {
      method: 'PUT',
      headers: { 'content-length': 5 },
      body: Buffer.from('hello'),
      expectContinue: true,
      timeoutMs: 2000,
    });
    t.equal(ok.status, 200);
    t.ok(ok.sawContinue, 'the client got 100 Continue');
    t.equal(JSON.parse(ok.text).bytes, 5);

    // An upstream that refuses at the headers: the client must get the refusal, not a 100.
    upstream.refuseContinue = true;
    const refused = await call(p.url, '/bucket/expect', {
      method: 'PUT',
      headers: { 'content-length': 5 },
      body: Buffer.from('hello'),
      expectContinue: true,
      timeoutMs: 2000,
    });
    t.equal(refused.status, 403);
    t.notOk(refused.sawContinue, 'no 100 Continue before a refusal');
    t.equal(refused.text, '<Error><Code>AccessDenied</Code></Error>');
  });

  await t.test('answers error5xx with a real S3 XML error and never forwards', async (t) => {
    const p = await proxy({ faults: { error5xx: 1, error5xxStatus: 500 } });
    const res = await call(p.url, '/bucket/key', { method: 'PUT', body: Buffer.from('data') });
    t.equal(res.status, 500);
    t.equal(res.headers['content-type'], 'application/xml');
    t.match(res.text, S3_ERROR('InternalError', 'We encountered an internal error. Please try again.'));
    t.equal(res.headers['x-amz-request-id'], /<RequestId>(\w+)</.exec(res.text)?.[1]);

    p.setFaults({ error5xxStatus: 503 });
    const unavailable = await call(p.url, '/bucket/key');
    t.equal(unavailable.status, 503);
    t.match(unavailable.text, S3_ERROR('ServiceUnavailable', 'Service is unable to handle request.'));

    p.setFaults({ error5xxStatus: undefined });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await call(p.url, '/bucket/key')).status);
    t.same([...statuses].sort(), [500, 503], 'without a pinned status both 500 and 503 occur');
    t.equal(upstream.seen.length, 0, 'nothing reached the upstream');
    t.equal(p.counts.injected5xx, 22);
    t.equal(p.counts.forwarded, 0);
  });

  await t.test('answers error5xx with a JSON body when not in S3 mode', async (t) => {
    const p = await proxy({ s3: false, faults: { error5xx: 1, error5xxStatus: 503 } });
    const res = await call(p.url, '/api/v1/pods');
    t.equal(res.status, 503);
    t.equal(res.headers['content-type'], 'application/json');
    t.match(JSON.parse(res.text), { error: { code: 'ServiceUnavailable', message: String, requestId: String } });
  });

  await t.test('answers slowDown with 503 SlowDown, and closes the connection of a client waiting for 100 Continue', async (t) => {
    const p = await proxy({ faults: { slowDown: 1 } });
    const res = await call(p.url, '/bucket/key?partNumber=1&uploadId=u', {
      method: 'PUT',
      headers: { 'content-length': 5 },
      body: Buffer.from('hello'),
      expectContinue: true,
      timeoutMs: 2000,
    });
    t.equal(res.status, 503);
    t.match(res.text, S3_ERROR('SlowDown', 'Please reduce your request rate.'));
    t.notOk(res.sawContinue);
    t.equal(res.headers['connection'], 'close', 'the unsent body cannot be left on a reusable connection');
    t.equal(p.counts.slowDown, 1);
    t.equal(upstream.seen.length, 0);
  });

  await t.test('resetMidBody cuts an upload: the client gets ECONNRESET and the upstream an aborted, half-sent part', async (t) => {
    const p = await proxy({ faults: { resetMidBody: 1 } });
    const size = 8 * MiB;
    const err = await rejection(
      call(p.url, '/bucket/key?partNumber=1&uploadId=u', { method: 'PUT', headers: { 'content-length': size }, body: Readable.from(pattern(size)) }),
    );
    t.match(err, { code: /^(ECONNRESET|EPIPE)$/, syscall: /^(read|write)$/ }, `a TCP reset, not a hang-up: ${err.message}`);
    t.equal(err.status, undefined, 'no response at all');
    await until('the upstream to notice the abort', () => upstream.seen[0]?.complete !== undefined);
    const seen = upstream.seen[0]!;
    t.equal(seen.complete, false, 'the upstream request was aborted');
    t.equal(seen.bytes, size / 2, 'exactly the first half got through');
    t.equal(p.counts.resets, 1);
    t.equal(p.counts.truncated, 0);

    p.setFaults({ resetAfterBytes: 1000 });
    const early = await rejection(call(p.url, '/bucket/key', { method: 'PUT', headers: { 'content-length': size }, body: Readable.from(pattern(size)) }));
    t.match(early, { code: /^(ECONNRESET|EPIPE)$/, syscall: /^(read|write)$/ });
    await until('the second abort', () => upstream.seen[1]?.complete !== undefined);
    t.equal(upstream.seen[1]!.bytes, 1000);
    t.equal(upstream.seen[1]!.complete, false);

    // How the SDK uploads parts: Expect: 100-continue, and the cut comes after the 100.
    const expecting = await rejection(
      call(p.url, '/bucket/key?partNumber=2&uploadId=u', {
        method: 'PUT',
        headers: { 'content-length': size },
        body: Readable.from(pattern(size)),
        expectContinue: true,
        timeoutMs: 2000,
      }),
    );
    t.match(expecting, { code: /^(ECONNRESET|EPIPE)$/, syscall: /^(read|write)$/ }, expecting.message);
    await until('the third abort', () => upstream.seen[2]?.complete !== undefined);
    t.equal(upstream.seen[2]!.bytes, 1000);
    t.equal(upstream.seen[2]!.complete, false);
    t.equal(p.counts.resets, 3);
  });

  await t.test('resetMidBody cuts a download part way when the request has no body', async (t) => {
    const p = await proxy({ faults: { resetMidBody: 1 } });
    const err = await rejection(call(p.url, `/download?size=${4 * MiB}`));
    t.match(err, { code: 'ECONNRESET', syscall: 'read' }, `a TCP reset, not a FIN: ${err.message}`);
    t.equal(err.status, 200, 'the head got through');
    t.ok((err.bytes ?? 0) <= 2 * MiB, `got ${err.bytes} of ${4 * MiB} bytes`);
    t.equal(p.counts.resets, 1);
    t.equal(p.counts.truncated, 1);

    const empty = await rejection(call(p.url, '/bucket/empty', { method: 'HEAD' }));
    t.equal(empty.code, 'ECONNRESET', 'a bodiless answer is cut before its head');
  });

  await t.test('stall holds the request until the client gives up, and stallMs ends it without an answer', async (t) => {
    const p = await proxy({ faults: { stall: 1 } });
    const started = Date.now();
    const err = await rejection(call(p.url, '/bucket/key', { method: 'PUT', body: Buffer.from('x'), timeoutMs: 200 }));
    t.equal(err.code, 'CLIENT_TIMEOUT');
    t.ok(Date.now() - started >= 190);
    t.equal(p.counts.stalls, 1);
    t.equal(upstream.seen.length, 0);

    p.setFaults({ stallMs: 50 });
    const hungUp = await rejection(call(p.url, '/bucket/key', { timeoutMs: 2000 }));
    t.equal(hungUp.code, 'ECONNRESET', 'socket hang up, well before the client timeout');
  });

  await t.test('latencyMs delays matching requests, then forwards them', async (t) => {
    const p = await proxy({ faults: { latencyMs: 150, methods: ['PUT'] } });
    let started = Date.now();
    t.equal((await call(p.url, '/bucket/key', { method: 'PUT', body: Buffer.from('x') })).status, 200);
    t.ok(Date.now() - started >= 145, 'PUT was delayed');
    started = Date.now();
    await call(p.url, '/bucket/key');
    t.ok(Date.now() - started < 145, 'GET was not');
    t.equal(p.counts.delayed, 1);
    t.equal(p.counts.forwarded, 2);
  });

  await t.test('a 0.3 probability with a seed faults a reproducible ~30 % of 200 requests', async (t) => {
    const agent = new HttpAgent({ keepAlive: true });
    t.teardown(() => agent.destroy());
    const run = async (seed: number) => {
      const p = await proxy({ seed, faults: { error5xx: 0.3 } });
      const outcome: number[] = [];
      for (let i = 0; i < 200; i++) outcome.push((await call(p.url, `/bucket/k${i}`, { agent })).status === 200 ? 0 : 1);
      t.equal(p.counts.injected5xx, outcome.filter(Boolean).length);
      t.equal(p.counts.forwarded + p.counts.injected5xx, 200);
      return outcome.join('');
    };
    const first = await run(42);
    const faulted = first.split('').filter((c) => c === '1').length;
    t.ok(faulted >= 40 && faulted <= 80, `${faulted} of 200 faulted`);
    t.equal(await run(42), first, 'same seed, same faults');
    t.not(await run(7), first, 'another seed, other faults');
  });

  await t.test('filters by method, path and predicate, so only part uploads are faulted', async (t) => {
    const p = await proxy({ faults: { error5xx: 1, methods: ['put'], pathPattern: /[?&]partNumber=/g } });
    t.equal((await call(p.url, '/bucket/key?partNumber=1')).status, 200, 'GET passes');
    t.equal((await call(p.url, '/bucket/key', { method: 'PUT', body: Buffer.from('x') })).status, 200, 'PUT object passes');
    for (let i = 1; i <= 3; i++) {
      t.equal(
        (await call(p.url, `/bucket/key?partNumber=${i}&uploadId=u`, { method: 'PUT', body: Buffer.from('x') })).status >= 500,
        true,
        `part ${i} faulted`,
      );
    }
    p.setFaults({ methods: undefined, pathPattern: undefined, match: (req) => req.headers['x-fault-me'] === 'yes' });
    t.equal((await call(p.url, '/any', { headers: { 'x-fault-me': 'no' } })).status, 200);
    t.ok((await call(p.url, '/any', { headers: { 'x-fault-me': 'yes' } })).status >= 500);
    t.equal(p.counts.matched, 4);
    t.equal(p.counts.injected5xx, 4);
    t.equal(p.counts.requests, 7);
  });

  await t.test('maxFaults stops injecting after N, and setting it again grants a new budget', async (t) => {
    const p = await proxy({ faults: { slowDown: 1, maxFaults: 2 } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(p.url, '/bucket/key')).status);
    t.same(statuses, [503, 503, 200, 200, 200]);
    p.setFaults({ maxFaults: 1 });
    t.equal((await call(p.url, '/bucket/key')).status, 503);
    t.equal((await call(p.url, '/bucket/key')).status, 200);
    p.setFaults({ maxFaults: undefined });
    t.equal((await call(p.url, '/bucket/key')).status, 503, 'no budget, no limit');
    t.equal(p.counts.slowDown, 4);
    t.equal(p.counts.forwarded, 4);
  });

  await t.test('setFaults switches faults on and off at run time', async (t) => {
    const p = await proxy();
    t.equal((await call(p.url, '/a')).status, 200);
    p.setFaults({ error5xx: 1, error5xxStatus: 500 });
    t.equal((await call(p.url, '/a')).status, 500);
    p.setFaults({ error5xx: 0 });
    t.equal((await call(p.url, '/a')).status, 200);
  });

  await t.test('answers 502 when the upstream is down', async (t) => {
    const p = await startFaultProxy({ target: 'http://127.0.0.1:1', s3: true });
    t.teardown(() => p.close());
    const res = await call(p.url, '/bucket/key', { method: 'PUT', body: Buffer.from('x') });
    t.equal(res.status, 502);
    t.match(res.text, /<Code>BadGateway<\/Code>/);
    t.equal(p.counts.upstreamErrors, 1);
  });

  await t.test('close() resolves promptly with a stalled connection open, and the client sees it die', async (t) => {
    const p = await startFaultProxy({ target: upstream.url, faults: { stall: 1 } });
    const pending = rejection(call(p.url, '/bucket/key', { timeoutMs: 5000 }));
    await until('the stall', () => p.counts.stalls === 1);
    const started = Date.now();
    await p.close();
    t.ok(Date.now() - started < 500, `closed in ${Date.now() - started} ms`);
    t.equal((await pending).code, 'ECONNRESET');
  });
});

t.test('fault proxy over HTTPS (kubelet style)', async (t) => {
  const pki = makeTestPki();
  const tls = { key: pki.read(pki.serverKey), cert: pki.read(pki.serverCert) };
  const ca = pki.read(pki.caCert);
  const upstream = await startUpstream(tls);
  t.teardown(() => upstream.close());

  await t.test('serves TLS itself and forwards to a verified https upstream with Host unchanged', async (t) => {
    const p = await startFaultProxy({ target: upstream.url, tls, upstreamCa: ca });
    t.teardown(() => p.close());
    t.match(p.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await call(p.url, '/containerLogs/ns/pod/c?follow=false', { ca, method: 'POST', body: Buffer.from('{"x":1}') });
    t.equal(res.status, 200);
    t.equal(JSON.parse(res.text).bytes, 7);
    t.equal(upstream.seen.at(-1)!.headers.host, `127.0.0.1:${p.port}`, 'the Host the client used, not the upstream port');
    t.equal(upstream.seen.at(-1)!.url, '/containerLogs/ns/pod/c?follow=false');
  });

  await t.test('refuses an https upstream it cannot verify', async (t) => {
    const p = await startFaultProxy({ target: upstream.url, tls });
    t.teardown(() => p.close());
    t.equal((await call(p.url, '/pods', { ca })).status, 502);
    t.equal(p.counts.upstreamErrors, 1);
    const lax = await startFaultProxy({ target: upstream.url, tls, rejectUnauthorized: false });
    t.teardown(() => lax.close());
    t.equal((await call(lax.url, '/pods', { ca })).status, 200);
  });

  await t.test('resets a TLS connection mid-download with a real TCP reset', async (t) => {
    const p = await startFaultProxy({ target: upstream.url, tls, upstreamCa: ca, faults: { resetMidBody: 1 } });
    t.teardown(() => p.close());
    const err = await rejection(call(p.url, `/download?size=${2 * MiB}`, { ca }));
    t.match(err, { code: 'ECONNRESET', syscall: 'read' }, `a TCP reset under TLS: ${err.message}`);
    t.ok((err.bytes ?? 0) < 2 * MiB);
    const upload = await rejection(
      call(p.url, '/checkpoint', { ca, method: 'PUT', headers: { 'content-length': 4 * MiB }, body: Readable.from(pattern(4 * MiB)) }),
    );
    t.match(upload, { code: /^(ECONNRESET|EPIPE)$/, syscall: /^(read|write)$/ });
    t.equal(p.counts.resets, 2);
  });

  await t.test('stalls over TLS until close()', async (t) => {
    const p = await startFaultProxy({ target: upstream.url, tls, upstreamCa: ca, faults: { stall: 1 } });
    const pending = rejection(call(p.url, '/pods', { ca, timeoutMs: 5000 }));
    await until('the stall', () => p.counts.stalls === 1);
    await p.close();
    t.equal((await pending).code, 'ECONNRESET');
  });
});

t.test('the AWS SDK reads the injected errors as S3 errors', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const p = await startFaultProxy({ target: upstream.url, s3: true, faults: { slowDown: 1 } });
  t.teardown(() => p.close());
  const client = (maxAttempts: number) =>
    new S3Client({
      endpoint: p.url,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });

  await t.test('SlowDown surfaces as a SlowDown error with status and request id', async (t) => {
    const s3 = client(1);
    t.teardown(() => s3.destroy());
    const err = await rejection(s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'hello' })));
    t.equal(err.name, 'SlowDown');
    t.equal(err.message, 'Please reduce your request rate.');
    t.match(err, { $metadata: { httpStatusCode: 503, requestId: /^[0-9A-F]+$/ } });
  });

  await t.test('the SDK retries an InternalError and then succeeds, with the signed Host reaching the upstream', async (t) => {
    p.setFaults({ slowDown: 0, error5xx: 1, error5xxStatus: 500, maxFaults: 1 });
    const s3 = client(3);
    t.teardown(() => s3.destroy());
    const out = await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'hello' }));
    t.equal(out.ETag, '"etag-1"');
    t.equal(p.counts.injected5xx, 1);
    const seen = upstream.seen.at(-1)!;
    t.equal(seen.headers.host, new URL(p.url).host);
    t.match(seen.headers.authorization, /SignedHeaders=[^,]*\bhost\b/);
    t.equal(seen.url.split('?')[0], '/b/k');
  });
});
