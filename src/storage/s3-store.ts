import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  UploadPartCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { AmberError } from '../core/amber-error.js';
import { hashFile, HashStream } from '../core/hash-stream.js';
import type { ObjectStore, PutMeta, Retention, StoredObject } from './object-store.js';
import { s3ErrorInfo, storeError } from './s3-errors.js';

export interface S3StoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Multipart part size in bytes (≥ 5 MiB). Memory per upload is about partSize × queueSize. */
  readonly partSize: number;
  /** Parts in flight per upload. */
  readonly queueSize: number;
  /** Server-side encryption of every object. */
  readonly sse?: { readonly mode: 'AES256' } | { readonly mode: 'aws:kms'; readonly kmsKeyId?: string };
}

/** User metadata keys amber puts on every object (S3 lower-cases them and prefixes `x-amz-meta-`). */
export const META_SHA256 = 'amber-sha256';

/**
 * Evidence in an S3 bucket. Streams every body through lib-storage's multipart upload (flat
 * memory: at most partSize × queueSize buffered), hashes it on the way and refuses to complete an
 * upload whose bytes do not hash to the expected SHA-256 — the stream fails before the last part,
 * so lib-storage aborts the multipart upload and nothing appears under the key. Each part travels
 * with a signed SHA-256 payload hash (SigV4), which the server checks.
 *
 * Retention is set on the create request (AWS honours it there) and again with PutObjectRetention
 * after the upload (Ceph RGW ignores lock headers on CreateMultipartUpload), then read back: an
 * object reported stored is an object the server says is locked.
 */
export class S3Store implements ObjectStore {
  private readonly o: S3StoreOptions;

  constructor(options: S3StoreOptions) {
    if (options.partSize < 5 * 1024 * 1024) throw new AmberError('CONFIG_INVALID', { setting: 's3.partSizeMiB', problem: 'S3 parts are at least 5 MiB' });
    this.o = options;
  }

  get bucket(): string {
    return this.o.bucket;
  }

  uri(key: string): string {
    return `s3://${this.o.bucket}/${key}`;
  }

  async put(key: string, body: Readable, meta: PutMeta = {}): Promise<StoredObject> {
    checkKey(key);
    // Write-once: never a second version of an original (a versioned bucket would keep both).
    if ((await this.headObject(key)) !== undefined) throw new AmberError('STORE_EXISTS', { key });
    const hash = new HashStream(meta.sha256);
    body.on('error', (e) => hash.destroy(e));
    const chunks = body.pipe(hash)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const params = {
      Bucket: this.o.bucket,
      Key: key,
      Metadata: { ...meta.metadata, ...(meta.sha256 !== undefined ? { [META_SHA256]: meta.sha256 } : {}) },
      ...(meta.contentType !== undefined ? { ContentType: meta.contentType } : {}),
      ...this.sseParams(),
      ...lockParams(meta.retention, meta.legalHold),
    };
    // Read up to one part: a body that ends sooner goes up as a one-part multipart upload.
    const first: Buffer[] = [];
    let buffered = 0;
    let ended = false;
    try {
      while (buffered < this.o.partSize) {
        const r = await chunks.next();
        if (r.done === true) {
          ended = true;
          break;
        }
        first.push(r.value);
        buffered += r.value.length;
      }
    } catch (e) {
      // the body failed or did not hash as expected before anything was sent
      throw e instanceof AmberError ? e : storeError('STORE_UNAVAILABLE', key, 'read the body', e);
    }
    let streamError: unknown;
    try {
      if (ended) {
        await this.putOnePart(params, Buffer.concat(first));
      } else {
        const rest = (async function* () {
          yield* first;
          try {
            for (let r = await chunks.next(); r.done !== true; r = await chunks.next()) yield r.value;
          } catch (e) {
            streamError = e;
            throw e;
          }
        })();
        // a failed upload is aborted (leavePartsOnError: false): no orphaned parts
        await new Upload({
          client: this.o.client,
          partSize: this.o.partSize,
          queueSize: this.o.queueSize,
          leavePartsOnError: false,
          params: { ...params, Body: Readable.from(rest) },
        }).done();
      }
    } catch (cause) {
      // The hash check failed (the upload was not completed); say so even when the abort that
      // followed failed too and lib-storage reports that instead.
      if (streamError instanceof AmberError) throw streamError;
      if (streamError !== undefined) throw storeError('STORE_UNAVAILABLE', key, 'read the body', streamError);
      // A completion whose answer was lost and whose retry found the upload gone: if the object
      // is there with our hash, it is ours — stored once, not twice.
      if (!(await this.isOurs(key, meta.sha256, hash))) throw storeError('STORE_UNAVAILABLE', key, 'upload', cause);
    }
    const head = await this.headObject(key);
    if (head === undefined || head.size !== hash.bytes) {
      throw new AmberError('STORE_HASH_MISMATCH', { key, problem: `uploaded ${hash.bytes} bytes, the store reports ${head?.size ?? 'no object'}` });
    }
    if (meta.retention !== undefined || meta.legalHold === true) await this.protect(key, meta.retention, meta.legalHold);
    return { key, size: hash.bytes, sha256: hash.sha256 };
  }

  /**
   * A small body as a multipart upload of one part rather than a PutObject: a PutObject whose
   * answer is lost is retried by the SDK and, on a versioned (Object Lock) bucket, stored twice;
   * a part is idempotent, and a completion happens once.
   */
  private async putOnePart(params: Omit<CreateMultipartUploadCommandInput, 'Bucket' | 'Key'> & { Bucket: string; Key: string }, bytes: Buffer): Promise<void> {
    const { UploadId } = await this.o.client.send(new CreateMultipartUploadCommand(params));
    try {
      const part = await this.o.client.send(new UploadPartCommand({ Bucket: params.Bucket, Key: params.Key, UploadId, PartNumber: 1, Body: bytes }));
      await this.o.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: params.Bucket,
          Key: params.Key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      );
    } catch (e) {
      // abort is best-effort: a completed upload is gone already, a dead server leaves debris that
      // the retry at this key or the start-up sweep removes
      await this.o.client.send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId })).catch(() => undefined);
      throw e;
    }
  }

  /** The object at `key` is the one this upload sent: the body ended, and size and recorded hash match. */
  private async isOurs(key: string, expected: string | undefined, hash: HashStream): Promise<boolean> {
    if (expected === undefined || !hash.readableEnded) return false;
    const head = await this.headObject(key).catch(() => undefined);
    return head !== undefined && head.metadata[META_SHA256] === expected && head.size === hash.bytes;
  }

  /**
   * A local file: hashed first, so the object's metadata carries its SHA-256 from the start and
   * the upload is refused if the file changes on the way. With `take`, the file is deleted once
   * the object is stored.
   */
  async putFile(key: string, path: string, meta: PutMeta & { take?: boolean } = {}): Promise<StoredObject> {
    checkKey(key);
    const { size, sha256 } = await hashFile(path);
    if (meta.sha256 !== undefined && meta.sha256 !== sha256) {
      throw new AmberError('STORE_HASH_MISMATCH', { key, expected: meta.sha256, actual: sha256 });
    }
    if (size >= this.o.partSize) {
      // debris of an interrupted attempt at this key (a key belongs to one capture, worked by one agent)
      await this.abortUploads(key).catch((e: unknown) => {
        if (!(e instanceof AmberError && e.code === 'STORE_NOT_IMPLEMENTED')) throw e; // a server without the listing has nothing to clean
      });
    }
    const stored = await this.put(key, createReadStream(path, { highWaterMark: 1024 * 1024 }), { ...meta, sha256 });
    if (stored.size !== size) throw new AmberError('STORE_HASH_MISMATCH', { key, problem: `file had ${size} bytes, stored ${stored.size}` });
    if (meta.take === true) await unlink(path).catch(() => undefined); // the store holds it now
    return stored;
  }

  /** Sets (or re-asserts) retention and legal hold, then reads them back. Idempotent. */
  async protect(key: string, retention: Retention | undefined, legalHold: boolean | undefined): Promise<void> {
    try {
      if (retention !== undefined) {
        await this.o.client.send(
          new PutObjectRetentionCommand({
            Bucket: this.o.bucket,
            Key: key,
            Retention: { Mode: retention.mode, RetainUntilDate: retention.retainUntil },
          }),
        );
      }
      if (legalHold === true) {
        await this.o.client.send(new PutObjectLegalHoldCommand({ Bucket: this.o.bucket, Key: key, LegalHold: { Status: 'ON' } }));
      }
    } catch (cause) {
      throw storeError('STORE_LOCK_FAILED', key, 'set retention', cause);
    }
    const head = await this.o.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: key })).catch((cause: unknown) => {
      throw storeError('STORE_UNAVAILABLE', key, 'head', cause);
    });
    if (
      retention !== undefined &&
      (head.ObjectLockMode !== retention.mode ||
        head.ObjectLockRetainUntilDate === undefined ||
        head.ObjectLockRetainUntilDate.getTime() < retention.retainUntil.getTime() - 1000)
    ) {
      throw new AmberError('STORE_LOCK_FAILED', {
        key,
        problem: `asked for ${retention.mode} until ${retention.retainUntil.toISOString()}, the store reports ${head.ObjectLockMode ?? 'no lock'} until ${head.ObjectLockRetainUntilDate?.toISOString() ?? '-'}`,
      });
    }
    if (legalHold === true && head.ObjectLockLegalHoldStatus !== 'ON') {
      throw new AmberError('STORE_LOCK_FAILED', { key, problem: 'legal hold was set, but the store does not report it' });
    }
  }

  async get(key: string): Promise<Readable> {
    checkKey(key);
    try {
      const out = await this.o.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: key }));
      return out.Body as Readable;
    } catch (cause) {
      const info = s3ErrorInfo(cause);
      if (info.status === 404) throw new AmberError('STORE_NOT_FOUND', { key }, { cause });
      throw storeError('STORE_UNAVAILABLE', key, 'get', cause);
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    const h = await this.headObject(key);
    return h === undefined ? undefined : { size: h.size };
  }

  /** Size, user metadata and lock state of an object; undefined when absent. */
  async headObject(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    try {
      const h = await this.o.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: key }));
      return {
        size: h.ContentLength ?? 0,
        metadata: h.Metadata ?? {},
        ...(h.ObjectLockMode !== undefined ? { lockMode: h.ObjectLockMode } : {}),
        ...(h.ObjectLockRetainUntilDate !== undefined ? { retainUntil: h.ObjectLockRetainUntilDate } : {}),
        legalHold: h.ObjectLockLegalHoldStatus === 'ON',
      };
    } catch (cause) {
      if (s3ErrorInfo(cause).status === 404) return undefined;
      throw storeError('STORE_UNAVAILABLE', key, 'head', cause);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.o.client.send(
          new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, ...(token !== undefined ? { ContinuationToken: token } : {}) }),
        );
        for (const c of page.Contents ?? []) if (c.Key !== undefined) keys.push(c.Key);
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (cause) {
      throw storeError('STORE_UNAVAILABLE', prefix, 'list', cause);
    }
    return keys.sort();
  }

  /**
   * Aborts unfinished multipart uploads under `prefix` (exactly `prefix`'s key too) started before
   * `before`. Returns the keys. An upload already gone counts as aborted (an abort whose answer was
   * lost is retried into NoSuchUpload); one that cannot be aborted does not stop the sweep of the
   * others, and the sweep then fails naming how many are left.
   */
  async abortUploads(prefix: string, before: Date = new Date()): Promise<string[]> {
    const aborted: string[] = [];
    let left = 0;
    let lastCause: unknown;
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    try {
      for (;;) {
        const page = await this.o.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.o.bucket,
            Prefix: prefix,
            ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
            ...(idMarker !== undefined ? { UploadIdMarker: idMarker } : {}),
          }),
        );
        for (const u of page.Uploads ?? []) {
          if (u.Key === undefined || u.UploadId === undefined) continue;
          if (u.Initiated !== undefined && u.Initiated.getTime() >= before.getTime()) continue;
          try {
            await this.o.client.send(new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: u.Key, UploadId: u.UploadId }));
          } catch (e) {
            if (s3ErrorInfo(e).code !== 'NoSuchUpload') {
              left++;
              lastCause = e;
              continue;
            }
          }
          aborted.push(u.Key);
        }
        if (page.IsTruncated !== true) break;
        keyMarker = page.NextKeyMarker;
        idMarker = page.NextUploadIdMarker;
      }
    } catch (cause) {
      // a server without ListMultipartUploads answers 501: no retry changes that
      throw storeError(s3ErrorInfo(cause).status === 501 ? 'STORE_NOT_IMPLEMENTED' : 'STORE_UNAVAILABLE', prefix, 'list unfinished uploads', cause);
    }
    if (left > 0) throw storeError('STORE_UNAVAILABLE', prefix, `abort ${left} unfinished upload(s)`, lastCause);
    return aborted;
  }

  /**
   * Start-up check: the bucket answers, and — when `needLock` — has Object Lock enabled. The
   * error says how to fix it, because a bucket cannot be given Object Lock after the fact on
   * every S3 implementation.
   */
  async checkBucket(needLock: boolean): Promise<void> {
    try {
      await this.o.client.send(new HeadBucketCommand({ Bucket: this.o.bucket }));
    } catch (cause) {
      const info = s3ErrorInfo(cause);
      const problem =
        info.status === 404
          ? `bucket '${this.o.bucket}' does not exist`
          : info.status === 403 || info.status === 401
            ? `the credentials may not use bucket '${this.o.bucket}' (${info.status})`
            : `the S3 endpoint did not answer (${info.message})`;
      throw new AmberError('STORE_UNAVAILABLE', { bucket: this.o.bucket, problem }, { cause });
    }
    if (!needLock) return;
    let enabled = false;
    let unsupported = false;
    try {
      const out = await this.o.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.o.bucket }));
      enabled = out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (cause) {
      const info = s3ErrorInfo(cause);
      unsupported = info.status === 501 || info.code === 'NotImplemented';
      if (!unsupported && info.status !== 404 && info.code !== 'ObjectLockConfigurationNotFoundError' && info.code !== 'InvalidRequest') {
        throw new AmberError(
          'STORE_UNAVAILABLE',
          { bucket: this.o.bucket, problem: `could not read the Object Lock configuration (${info.message})` },
          { cause },
        );
      }
    }
    if (!enabled) {
      throw new AmberError('STORE_NO_OBJECT_LOCK', {
        bucket: this.o.bucket,
        ...(unsupported ? { problem: 'this S3 server does not implement Object Lock' } : {}),
        fix:
          `a policy asks for locked evidence (evidence.lock compliance or governance), but bucket '${this.o.bucket}' has no Object Lock. ` +
          `Create the bucket with Object Lock (aws s3api create-bucket --bucket ${this.o.bucket} --object-lock-enabled-for-bucket), ` +
          `or enable it on a versioned bucket (aws s3api put-object-lock-configuration --bucket ${this.o.bucket} --object-lock-configuration ObjectLockEnabled=Enabled), ` +
          `or set evidence.lock: none in the policies that do not need it`,
      });
    }
  }

  private sseParams(): Record<string, string> {
    const sse = this.o.sse;
    if (sse === undefined) return {};
    if (sse.mode === 'AES256') return { ServerSideEncryption: 'AES256' };
    return { ServerSideEncryption: 'aws:kms', ...(sse.kmsKeyId !== undefined ? { SSEKMSKeyId: sse.kmsKeyId } : {}) };
  }
}

export interface ObjectInfo {
  readonly size: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly lockMode?: string;
  readonly retainUntil?: Date;
  readonly legalHold: boolean;
}

function lockParams(retention: Retention | undefined, legalHold: boolean | undefined): Record<string, unknown> {
  return {
    ...(retention !== undefined ? { ObjectLockMode: retention.mode, ObjectLockRetainUntilDate: retention.retainUntil } : {}),
    ...(legalHold === true ? { ObjectLockLegalHoldStatus: 'ON' } : {}),
  };
}

function checkKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.includes('\0') || key.split('/').some((p) => p === '..' || p === '.')) {
    throw new AmberError('STORE_BAD_KEY', { key });
  }
}
