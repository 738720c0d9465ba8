import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { AmberError } from './amber-error.js';

/**
 * A pass-through that counts and SHA-256-hashes what flows through it. Given an expected digest,
 * it fails at the end of the stream (STORE_HASH_MISMATCH) instead of ending when the bytes differ,
 * so a consumer that commits only on a clean end (a multipart upload) never commits them.
 */
export class HashStream extends Transform {
  private readonly hash = createHash('sha256');
  /** Bytes seen so far (not `size`: lib-storage reads a body's `size` as its length). */
  bytes = 0;
  private digestHex: string | undefined;

  constructor(private readonly expected?: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
    if (this.expected !== undefined && this.expected !== this.digestHex) {
      done(new AmberError('STORE_HASH_MISMATCH', { expected: this.expected, actual: this.digestHex, size: this.bytes }));
      return;
    }
    done();
  }

  /** Hex digest; only after the stream has ended. */
  get sha256(): string {
    if (this.digestHex === undefined) throw new Error('HashStream: digest read before the end of the stream');
    return this.digestHex;
  }
}

/**
 * SHA-256 and size of a file, read with one reused buffer: about twice as fast as a stream of
 * freshly allocated chunks, and as fast as `openssl dgst` on a SHA-NI CPU.
 */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { size, sha256: hash.digest('hex') };
}
