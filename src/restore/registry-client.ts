import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { AmberError, isAmberError } from '../core/amber-error.js';
import type { CheckpointImage, Descriptor } from './checkpoint-image.js';
import { answerChallenge, parseChallenge, type RegistryCredentials } from './registry-auth.js';

/** `host[:port]/repository[:tag]`, parsed. */
export interface ImageRef {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Parses an image reference to push to. The registry must be named (a host with a dot or a port,
 * or `localhost`): amber never guesses Docker Hub for evidence. A digest is refused: the digest
 * is the image's, computed here. `defaultTag` when the reference has none.
 */
export function parseImageRef(ref: string, defaultTag: string): ImageRef {
  const bad = (problem: string): never => {
    throw new AmberError('RESTORE_REFUSED', { image: ref, problem });
  };
  if (ref.includes('@')) bad('push by tag: the digest is the image’s own, computed from the sealed archive');
  const slash = ref.indexOf('/');
  if (slash <= 0) bad('name the registry: host[:port]/repository[:tag]');
  const registry = ref.slice(0, slash);
  if (!/[.:]/.test(registry) && registry !== 'localhost')
    bad(`"${registry}" is not a registry host (it has neither a dot nor a port): name the registry, host[:port]/repository`);
  let rest = ref.slice(slash + 1);
  let tag = defaultTag;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!rest.split('/').every((c) => COMPONENT.test(c))) bad(`"${rest}" is not a repository name (lowercase letters, digits, separators . _ -)`);
  if (!TAG.test(tag)) bad(`"${tag}" is not a tag`);
  return { registry, repository: rest, tag };
}

export interface PushOptions {
  readonly credentials?: RegistryCredentials;
  /** Plain HTTP (a test registry); otherwise HTTPS. */
  readonly insecure?: boolean;
  /** PEM CA bundle the registry's certificate is checked against. */
  readonly ca?: Buffer | undefined;
  /** Bytes per PATCH of a resumable upload (default 16 MiB). */
  readonly chunkBytes?: number;
  /** Attempts per request before the push fails (default 6), waits growing from `backoffMs` (default 500). */
  readonly attempts?: number;
  readonly backoffMs?: number;
  /** Bytes of the layer (the archive) sent so far, after each chunk. */
  readonly onProgress?: (sent: number, total: number) => void;
}

/** A failure that passes by itself: a lost connection, 5xx, 429. */
class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Pushes a checkpoint image through the OCI distribution API: the layer (the archive, streamed in
 * resumable chunks: a chunk that fails is resumed from what the registry says it holds), the
 * config, then the manifest under the tag. A blob the registry already has is not sent again.
 * Returns the manifest digest the registry confirmed.
 */
export async function pushImage(
  ref: ImageRef,
  image: CheckpointImage,
  open: () => Promise<Readable>,
  opts: PushOptions = {},
): Promise<{ digest: string; reference: string }> {
  const client = new RegistryClient(ref, opts);
  client.layerDigest = image.layer.digest;
  try {
    await client.pushBlob(image.layer, open);
    await client.pushBlob(image.config.descriptor, async () => bufferStream(image.config.bytes));
    const digest = await client.pushManifest(image.manifest.descriptor, image.manifest.bytes);
    return { digest, reference: `${ref.registry}/${ref.repository}:${ref.tag}@${digest}` };
  } finally {
    await client.close();
  }
}

async function bufferStream(bytes: Buffer): Promise<Readable> {
  const { Readable } = await import('node:stream');
  return Readable.from([bytes]);
}

class RegistryClient {
  private readonly base: string;
  private readonly dispatcher: Agent;
  private authorization: string | undefined;
  private readonly scope: string;
  /** Progress is reported for this blob only: the archive (the config is a few hundred bytes). */
  layerDigest: string | undefined;

  constructor(
    private readonly ref: ImageRef,
    private readonly opts: PushOptions,
  ) {
    this.base = `${opts.insecure ? 'http' : 'https'}://${ref.registry}`;
    this.dispatcher = new Agent({ connect: opts.ca ? { ca: opts.ca } : {}, headersTimeout: 60_000, bodyTimeout: 300_000 });
    this.scope = `repository:${ref.repository}:pull,push`;
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  async pushBlob(d: Descriptor, open: () => Promise<Readable>): Promise<void> {
    const path = `/v2/${this.ref.repository}/blobs/${d.digest}`;
    const head = await this.retrying('HEAD blob', () => this.send('HEAD', path));
    if (head.statusCode === 200) return; // the registry has it: nothing to send
    for (let restart = 0; ; restart++) {
      try {
        return await this.upload(d, open);
      } catch (e) {
        // the registry lost the upload, or bytes before the chunk in hand: start it again
        if (!(e instanceof LostUpload) || restart >= (this.opts.attempts ?? 6))
          throw e instanceof LostUpload ? new AmberError('REGISTRY_UNAVAILABLE', { problem: e.message }) : e;
      }
    }
  }

  private async upload(d: Descriptor, open: () => Promise<Readable>): Promise<void> {
    const started = await this.retrying('start upload', () => this.send('POST', `/v2/${this.ref.repository}/blobs/uploads/`));
    if (started.statusCode !== 202) throw rejected('start upload', started);
    let location = this.locate(started.headers['location']);
    const chunkBytes = this.opts.chunkBytes ?? 16 * 1024 * 1024;
    const hash = createHash('sha256');
    let offset = 0;
    for await (const chunk of chunks(await open(), chunkBytes)) {
      hash.update(chunk);
      const start = offset;
      let sent = 0;
      // a PATCH whose answer is lost may still have landed: resume from what the registry holds
      for (let attempt = 1; sent < chunk.length; attempt++) {
        const part = chunk.subarray(sent);
        try {
          const res = await this.send(
            'PATCH',
            location,
            {
              'content-type': 'application/octet-stream',
              'content-range': `${start + sent}-${start + chunk.length - 1}`,
              'content-length': String(part.length),
            },
            part,
          );
          if (res.statusCode === 404 && attempt > 1) throw new LostUpload(`the registry no longer knows the upload: ${registryErrors(res.text)}`);
          if (res.statusCode !== 202) throw rejected('upload a chunk', res);
          location = this.locate(res.headers['location'] ?? location);
          sent = chunk.length;
        } catch (e) {
          if (e instanceof LostUpload) throw e;
          if (!(e instanceof Transient) || attempt >= (this.opts.attempts ?? 6)) throw asError('upload a chunk', e);
          await this.backoff(attempt, e);
          const held = await this.heldBytes(location);
          if (held < start || held > start + chunk.length) throw new LostUpload(`the registry holds ${held} bytes of an upload that had sent ${start + sent}`);
          sent = held - start;
        }
      }
      offset += chunk.length;
      if (d.digest === this.layerDigest) this.opts.onProgress?.(offset, d.size);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if (digest !== d.digest || offset !== d.size) {
      await this.send('DELETE', location).catch(() => undefined); // best-effort: the registry expires uploads anyway
      throw new AmberError('RESTORE_ARCHIVE_MISMATCH', { expected: `${d.digest} (${d.size} bytes)`, read: `${digest} (${offset} bytes)` });
    }
    const done = new URL(location);
    done.searchParams.set('digest', d.digest);
    const res = await this.retrying('complete upload', () => this.send('PUT', done.href, { 'content-length': '0' }));
    if (res.statusCode !== 201) throw rejected('complete upload', res);
  }

  async pushManifest(d: Descriptor, bytes: Buffer): Promise<string> {
    const res = await this.retrying('put manifest', () =>
      this.send('PUT', `/v2/${this.ref.repository}/manifests/${this.ref.tag}`, { 'content-type': d.mediaType, 'content-length': String(bytes.length) }, bytes),
    );
    if (res.statusCode !== 201) throw rejected('put manifest', res);
    const confirmed = header(res.headers['docker-content-digest']);
    if (confirmed !== undefined && confirmed !== d.digest) {
      throw new AmberError('REGISTRY_REJECTED', {
        what: 'put manifest',
        problem: `the registry stored the manifest as ${confirmed}, amber computed ${d.digest}`,
      });
    }
    return d.digest;
  }

  /** How many bytes of the upload the registry holds (its `Range: 0-<last>`). */
  private async heldBytes(location: string): Promise<number> {
    const res = await this.retrying('upload status', () => this.send('GET', location));
    // the distribution registry invalidates an upload whose chunk partly landed (its state token
    // no longer matches the bytes held): that upload is lost, and starts again
    if (res.statusCode !== 204) throw new LostUpload(`the registry no longer knows the upload (HTTP ${res.statusCode}: ${registryErrors(res.text)})`);
    const m = /^0-(-?\d+)$/.exec(header(res.headers['range']) ?? '');
    return m ? Number(m[1]) + 1 : 0;
  }

  private locate(location: string | string[] | undefined): string {
    const l = header(location);
    if (l === undefined) throw new AmberError('REGISTRY_REJECTED', { problem: 'the registry answered an upload without a Location' });
    return new URL(l, this.base).href;
  }

  /** One request; a 401 is answered once with the challenge's credentials. Transient failures throw Transient. */
  private async send(method: Dispatcher.HttpMethod, pathOrUrl: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
    const url = new URL(pathOrUrl, this.base).href;
    for (let auth = 0; ; auth++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method,
          dispatcher: this.dispatcher,
          headers: { ...headers, ...(this.authorization !== undefined ? { authorization: this.authorization } : {}) },
          ...(body !== undefined ? { body } : {}),
        });
      } catch (e) {
        const code = tlsCode(e);
        // a certificate that does not verify never will: a hard stop, not retried
        if (code !== undefined)
          throw new AmberError('REGISTRY_TLS', { registry: this.ref.registry, problem: code, hint: 'pass the registry CA with --registry-ca' });
        throw new Transient(`${method} ${new URL(url).pathname}: ${(e as Error).message}`);
      }
      if (res.statusCode === 401 && auth === 0) {
        await res.body.dump();
        this.authorization = await answerChallenge(
          parseChallenge(header(res.headers['www-authenticate'])),
          this.opts.credentials ?? {},
          (u, h) => this.fetchToken(u, h),
          this.scope,
        );
        continue;
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        const text = await res.body.text();
        throw new AmberError('REGISTRY_UNAUTHORIZED', { status: res.statusCode, problem: registryErrors(text) || 'refused' });
      }
      if (res.statusCode === 429 || res.statusCode >= 500) {
        await res.body.dump();
        const after = Number(header(res.headers['retry-after']));
        throw new Transient(
          `${method} ${new URL(url).pathname}: HTTP ${res.statusCode}`,
          Number.isFinite(after) && after >= 0 ? Math.min(after, 60) * 1000 : undefined,
        );
      }
      // every answer is read to its end: the connection then goes back to the pool
      return { statusCode: res.statusCode, headers: res.headers, text: await res.body.text() };
    }
  }

  private async fetchToken(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    const res = await request(url, { method: 'GET', dispatcher: this.dispatcher, headers });
    return { status: res.statusCode, body: await res.body.text() };
  }

  private async retrying(what: string, fn: () => Promise<Answer>): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof Transient) || attempt >= (this.opts.attempts ?? 6)) throw asError(what, e);
        await this.backoff(attempt, e);
      }
    }
  }

  private async backoff(attempt: number, e: Transient): Promise<void> {
    const base = this.opts.backoffMs ?? 500;
    await sleep(e.retryAfterMs ?? base * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
  }
}

class LostUpload extends Error {}

/** The TLS verification failure behind a request error (undici wraps the socket's error as its cause), if it is one. */
function tlsCode(e: unknown): string | undefined {
  for (let err = e as { code?: unknown; cause?: unknown } | undefined, depth = 0; err && depth < 4; err = err.cause as typeof err, depth++) {
    const code = typeof err.code === 'string' ? err.code : undefined;
    if (code && (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID')) return code;
  }
  return undefined;
}

function asError(what: string, e: unknown): unknown {
  if (e instanceof Transient) return new AmberError('REGISTRY_UNAVAILABLE', { what, problem: e.message });
  if (isAmberError(e)) return e;
  return e;
}

/** A registry's answer, read whole (they are small: the blobs go the other way). */
interface Answer {
  readonly statusCode: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly text: string;
}

function rejected(what: string, res: Answer): AmberError {
  return new AmberError('REGISTRY_REJECTED', { what, status: res.statusCode, problem: registryErrors(res.text) || res.text.slice(0, 300) });
}

/** The registry's `{"errors":[{code, message}]}` as one line. */
function registryErrors(text: string): string {
  try {
    const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors ?? [];
    return errors.map((e) => `${e.code ?? '?'}: ${e.message ?? ''}`).join('; ');
  } catch {
    return '';
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The stream in chunks of exactly `size` bytes (the last one shorter). */
async function* chunks(source: AsyncIterable<Buffer | Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of source) {
    let b = Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
    while (held + b.length >= size) {
      const take = size - held;
      parts.push(b.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      held = 0;
      b = b.subarray(take);
    }
    if (b.length > 0) {
      parts.push(Buffer.from(b));
      held += b.length;
    }
  }
  if (held > 0) yield Buffer.concat(parts);
}
