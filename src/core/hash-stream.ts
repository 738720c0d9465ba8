import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** A pass-through that counts and SHA-256-hashes what flows through it. */
export class HashStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  private digestHex: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
    done();
  }

  /** Hex digest; only after the stream has ended. */
  get sha256(): string {
    if (this.digestHex === undefined) throw new Error('HashStream: digest read before the end of the stream');
    return this.digestHex;
  }
}
