import type { Transform, TransformCallback } from 'node:stream';
import { AmberError } from '../../core/amber-error.js';
import { AgeChunkStream, RUN_CHUNKS, type AgeStreamOptions, type RunResult } from './age-chunk-stream.js';
import {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  MAX_HEADER_SIZE,
  PAYLOAD_NONCE_SIZE,
  TAG_SIZE,
  couldBeAgeHeader,
  headerLength,
  openChunk,
  openChunksInto,
  parseHeader,
  payloadKey,
  unwrapFileKeyX25519,
  verifyHeaderMac,
} from './age-format.js';
import type { AgeIdentity } from './age-keys.js';

export type { AgeStreamOptions } from './age-chunk-stream.js';

/**
 * A Transform from an age v1 file (binary) to its plaintext, opened by any one of `identities`.
 *
 * It emits a chunk's plaintext only after that chunk authenticated, and the last chunk only after
 * it authenticated as the final one; so a consumer that trusts only a cleanly ended stream
 * never trusts tampered bytes. Failures are stream errors (AmberError): AGE_BAD_HEADER,
 * AGE_NO_IDENTITY_MATCHED, AGE_AUTH_FAILED (with the chunk index and its offset in the file),
 * AGE_TRUNCATED, AGE_BAD_PAYLOAD. Chunks are opened in runs of 16 (1 MiB), on worker threads as
 * in createAgeEncryptStream; memory is a few runs plus the header, whatever the file size.
 */
export function createAgeDecryptStream(identities: readonly AgeIdentity[], options: AgeStreamOptions = {}): Transform {
  return new AgeDecryptStream([...identities], options);
}

type Phase = 'header' | 'nonce' | 'payload';

class AgeDecryptStream extends AgeChunkStream {
  private phase: Phase = 'header';
  /** Header bytes (then nonce bytes) received so far. */
  private head: Buffer = Buffer.alloc(0);
  private headerSize = 0;
  private fileKey: Buffer | undefined;

  constructor(
    private readonly identities: readonly AgeIdentity[],
    options: AgeStreamOptions,
  ) {
    super('open', RUN_CHUNKS * ENCRYPTED_CHUNK_SIZE, options);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let rest: Buffer = chunk;
    try {
      if (this.phase === 'header') rest = this.takeHeader(rest);
      if (this.phase === 'nonce') rest = this.takeNonce(rest);
    } catch (e) {
      done(e as Error);
      return;
    }
    if (this.phase === 'payload') this.takePayload(rest, 0, done);
    else done();
  }

  override _flush(done: TransformCallback): void {
    if (this.phase === 'payload') {
      this.endPayload(done);
      return;
    }
    done(new AmberError('AGE_TRUNCATED', { reason: this.phase === 'header' ? 'the file ends inside the header' : 'the file ends inside the payload nonce' }));
  }

  /** Collects the header; once complete, opens it. Returns the bytes after it. */
  private takeHeader(chunk: Buffer): Buffer {
    // A copy: a header split over writes outlives the caller's buffer.
    this.head = Buffer.concat([this.head, chunk]);
    if (!couldBeAgeHeader(this.head)) {
      throw new AmberError('AGE_BAD_HEADER', { reason: 'the file does not start with age-encryption.org/v1 (not an age v1 file, or armored)' });
    }
    const len = headerLength(this.head);
    if (len === undefined) {
      if (this.head.length > MAX_HEADER_SIZE) throw new AmberError('AGE_BAD_HEADER', { reason: `no end of header in the first ${MAX_HEADER_SIZE} bytes` });
      return Buffer.alloc(0);
    }
    this.headerSize = len;
    this.openHeader(this.head.subarray(0, this.headerSize));
    const rest = this.head.subarray(this.headerSize);
    this.head = Buffer.alloc(0);
    this.phase = 'nonce';
    return rest;
  }

  private openHeader(header: Buffer): void {
    const parsed = parseHeader(header);
    for (const stanza of parsed.stanzas) {
      for (const identity of this.identities) {
        const fileKey = unwrapFileKeyX25519(stanza, identity);
        if (fileKey === undefined) continue;
        // Only the MAC binds the other stanzas and arguments to the file key.
        if (!verifyHeaderMac(parsed, fileKey)) throw new AmberError('AGE_BAD_HEADER', { reason: 'the header MAC does not match (the header was altered)' });
        this.fileKey = fileKey;
        return;
      }
    }
    throw new AmberError('AGE_NO_IDENTITY_MATCHED', {
      stanzas: parsed.stanzas.map((s) => s.type),
      identities: this.identities.map((i) => i.recipient),
    });
  }

  private takeNonce(chunk: Buffer): Buffer {
    const need = PAYLOAD_NONCE_SIZE - this.head.length;
    this.head = Buffer.concat([this.head, chunk.subarray(0, need)]);
    if (this.head.length < PAYLOAD_NONCE_SIZE) return Buffer.alloc(0);
    this.key = payloadKey(this.fileKey as Buffer, this.head);
    (this.fileKey as Buffer).fill(0);
    this.head = Buffer.alloc(0);
    this.phase = 'payload';
    return chunk.subarray(need);
  }

  /** The last run ends with the final chunk, which is whatever follows the last full chunk. */
  protected override runInline(sealed: Buffer, first: number, final: boolean): RunResult {
    const key = this.key as Buffer;
    const middle = final ? Math.max(1, Math.ceil(sealed.length / ENCRYPTED_CHUNK_SIZE)) - 1 : sealed.length / ENCRYPTED_CHUNK_SIZE;
    const output = Buffer.allocUnsafeSlow((middle + (final ? 1 : 0)) * CHUNK_SIZE);
    const opened = openChunksInto(key, first, sealed.subarray(0, middle * ENCRYPTED_CHUNK_SIZE), output);
    if (opened < middle) return this.middleFailed(output, sealed, first, opened);
    if (!final) return { output };
    const index = first + middle;
    const done = output.subarray(0, middle * CHUNK_SIZE);
    const last = sealed.subarray(middle * ENCRYPTED_CHUNK_SIZE);
    if (last.length < TAG_SIZE) {
      return {
        output: done,
        error: new AmberError('AGE_TRUNCATED', { reason: 'the file ends before its final chunk', chunk: index, offset: this.chunkOffset(index) }),
      };
    }
    const plaintext = openChunk(key, index, true, last);
    if (plaintext === undefined) {
      if (last.length === ENCRYPTED_CHUNK_SIZE && openChunk(key, index, false, last) !== undefined) {
        // A valid middle chunk with nothing after it: cut at a chunk boundary.
        const cut = new AmberError('AGE_TRUNCATED', { reason: 'the file ends after a non-final chunk', chunk: index + 1, offset: this.chunkOffset(index + 1) });
        return { output: done, error: cut };
      }
      return { output: done, error: this.authFailed(index) };
    }
    if (plaintext.length === 0 && index > 0) {
      return {
        output: done,
        error: new AmberError('AGE_BAD_PAYLOAD', { reason: 'an empty final chunk after data', chunk: index, offset: this.chunkOffset(index) }),
      };
    }
    output.set(plaintext, done.length);
    return { output: output.subarray(0, done.length + plaintext.length) };
  }

  protected override runResult(output: Buffer, sealed: Buffer, first: number): RunResult {
    const opened = output.length / CHUNK_SIZE;
    return opened < sealed.length / ENCRYPTED_CHUNK_SIZE ? this.middleFailed(output, sealed, first, opened) : { output };
  }

  /** Chunk first + opened of a run failed as a middle chunk: the chunks before it, and why. */
  private middleFailed(output: Buffer, sealed: Buffer, first: number, opened: number): RunResult {
    const index = first + opened;
    const chunk = sealed.subarray(opened * ENCRYPTED_CHUNK_SIZE, (opened + 1) * ENCRYPTED_CHUNK_SIZE);
    const error =
      openChunk(this.key as Buffer, index, true, chunk) === undefined
        ? this.authFailed(index)
        : new AmberError('AGE_BAD_PAYLOAD', { reason: 'data after the final chunk', chunk: index, offset: this.chunkOffset(index + 1) });
    return { output: output.subarray(0, opened * CHUNK_SIZE), error };
  }

  private authFailed(index: number): AmberError {
    return new AmberError('AGE_AUTH_FAILED', { chunk: index, offset: this.chunkOffset(index) });
  }

  /** Where chunk `index` starts in the age file. */
  private chunkOffset(index: number): number {
    return this.headerSize + PAYLOAD_NONCE_SIZE + index * ENCRYPTED_CHUNK_SIZE;
  }
}
