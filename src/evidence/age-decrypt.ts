import { Transform, type TransformCallback } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import {
  ENCRYPTED_CHUNK_SIZE,
  MAX_HEADER_SIZE,
  OutputBatch,
  PAYLOAD_NONCE_SIZE,
  TAG_SIZE,
  couldBeAgeHeader,
  headerLength,
  openChunk,
  parseHeader,
  payloadKey,
  unwrapFileKeyX25519,
  verifyHeaderMac,
} from './age-format.js';
import type { AgeIdentity } from './age-keys.js';

/**
 * A Transform from an age v1 file (binary) to its plaintext, opened by any one of `identities`.
 *
 * It emits a chunk's plaintext only after that chunk authenticated, and the last chunk only after
 * it authenticated as the final one; so a consumer that trusts only a cleanly ended stream
 * never trusts tampered bytes. Failures are stream errors (AmberError): AGE_BAD_HEADER,
 * AGE_NO_IDENTITY_MATCHED, AGE_AUTH_FAILED (with the chunk index and its offset in the file),
 * AGE_TRUNCATED, AGE_BAD_PAYLOAD. Memory is one encrypted chunk (64 KiB + 16) plus the header.
 */
export function createAgeDecryptStream(identities: readonly AgeIdentity[]): Transform {
  return new AgeDecryptStream([...identities]);
}

type Phase = 'header' | 'nonce' | 'payload';

class AgeDecryptStream extends Transform {
  private phase: Phase = 'header';
  /** Header bytes (then nonce bytes) received so far. */
  private head: Buffer = Buffer.alloc(0);
  private headerSize = 0;
  private fileKey: Buffer | undefined;
  private key: Buffer | undefined;
  /** The encrypted chunk being filled. */
  private readonly pending = Buffer.allocUnsafe(ENCRYPTED_CHUNK_SIZE);
  private filled = 0;
  private index = 0;
  private readonly out = new OutputBatch((piece) => this.push(piece));

  constructor(private readonly identities: readonly AgeIdentity[]) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let rest: Buffer = chunk;
      if (this.phase === 'header') rest = this.takeHeader(rest);
      if (this.phase === 'nonce') rest = this.takeNonce(rest);
      if (this.phase === 'payload') this.takePayload(rest);
      this.out.flush();
      done();
    } catch (e) {
      this.out.flush(); // the chunks that did authenticate, and only those
      done(e as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.phase !== 'payload') {
        throw new AmberError('AGE_TRUNCATED', { reason: this.phase === 'header' ? 'the file ends inside the header' : 'the file ends inside the payload nonce' });
      }
      this.finish();
      this.out.flush();
      done();
    } catch (e) {
      this.out.flush();
      done(e as Error);
    }
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
    this.phase = 'payload';
    return chunk.subarray(need);
  }

  private takePayload(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      // A full chunk followed by at least one more byte cannot be the final one.
      if (this.filled === ENCRYPTED_CHUNK_SIZE) {
        this.openMiddle(this.pending);
        this.filled = 0;
      }
      if (this.filled === 0 && chunk.length - pos > ENCRYPTED_CHUNK_SIZE) {
        this.openMiddle(chunk.subarray(pos, pos + ENCRYPTED_CHUNK_SIZE));
        pos += ENCRYPTED_CHUNK_SIZE;
        continue;
      }
      const n = chunk.copy(this.pending, this.filled, pos, Math.min(chunk.length, pos + ENCRYPTED_CHUNK_SIZE - this.filled));
      this.filled += n;
      pos += n;
    }
  }

  private openMiddle(sealed: Buffer): void {
    const key = this.key as Buffer;
    const plaintext = openChunk(key, this.index, false, sealed);
    if (plaintext === undefined) {
      if (openChunk(key, this.index, true, sealed) !== undefined) {
        throw new AmberError('AGE_BAD_PAYLOAD', { reason: 'data after the final chunk', chunk: this.index, offset: this.chunkOffset(this.index + 1) });
      }
      throw this.authFailed();
    }
    this.out.add(plaintext);
    this.index++;
  }

  /** At the end of the input: what is left must be the final chunk. */
  private finish(): void {
    const key = this.key as Buffer;
    const sealed = this.pending.subarray(0, this.filled);
    if (this.filled < TAG_SIZE) {
      throw new AmberError('AGE_TRUNCATED', { reason: 'the file ends before its final chunk', chunk: this.index, offset: this.chunkOffset(this.index) });
    }
    const plaintext = openChunk(key, this.index, true, sealed);
    if (plaintext === undefined) {
      if (this.filled === ENCRYPTED_CHUNK_SIZE && openChunk(key, this.index, false, sealed) !== undefined) {
        // A valid middle chunk with nothing after it: cut at a chunk boundary.
        throw new AmberError('AGE_TRUNCATED', { reason: 'the file ends after a non-final chunk', chunk: this.index + 1, offset: this.chunkOffset(this.index + 1) });
      }
      throw this.authFailed();
    }
    if (plaintext.length === 0 && this.index > 0) {
      throw new AmberError('AGE_BAD_PAYLOAD', { reason: 'an empty final chunk after data', chunk: this.index, offset: this.chunkOffset(this.index) });
    }
    this.out.add(plaintext);
    key.fill(0);
  }

  private authFailed(): AmberError {
    return new AmberError('AGE_AUTH_FAILED', { chunk: this.index, offset: this.chunkOffset(this.index) });
  }

  /** Where chunk `index` starts in the age file. */
  private chunkOffset(index: number): number {
    return this.headerSize + PAYLOAD_NONCE_SIZE + index * ENCRYPTED_CHUNK_SIZE;
  }
}
