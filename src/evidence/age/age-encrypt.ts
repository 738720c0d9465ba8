import { randomBytes } from 'node:crypto';
import type { Transform, TransformCallback } from 'node:stream';
import { AmberError } from '../../core/amber-error.js';
import { AgeChunkStream, RUN_CHUNKS, type AgeStreamOptions, type RunResult } from './age-chunk-stream.js';
import { CHUNK_SIZE, FILE_KEY_SIZE, PAYLOAD_NONCE_SIZE, formatHeader, payloadKey, sealChunksInto, sealedSize, wrapFileKeyX25519 } from './age-format.js';
import { parseAgeRecipient } from './age-keys.js';

export type { AgeStreamOptions } from './age-chunk-stream.js';

/**
 * A Transform from plaintext to an age v1 file (binary, not armored) that any one of
 * `recipients` (`age1…` X25519 keys) can open, with the `age` tool or createAgeDecryptStream.
 * Throws AGE_BAD_RECIPIENT at once for a malformed recipient or none.
 *
 * Chunks are sealed in runs of 16 (1 MiB), a few runs in flight at most: memory stays flat
 * whatever the input size. With `options.workers` (by default one, given three CPUs), runs past
 * the first `options.workersAfter` bytes (64 MiB) are sealed on worker threads (AgeChunkPool).
 * The workers end with the stream (finish, error or destroy); a stream abandoned without either
 * leaves idle workers behind, which do not keep the process alive.
 */
export function createAgeEncryptStream(recipients: readonly string[], options: AgeStreamOptions = {}): Transform {
  if (recipients.length === 0) throw new AmberError('AGE_BAD_RECIPIENT', { reason: 'no recipient given' });
  const publicKeys = recipients.map(parseAgeRecipient);
  const fileKey = randomBytes(FILE_KEY_SIZE);
  const header = formatHeader(
    publicKeys.map((pk) => wrapFileKeyX25519(fileKey, pk)),
    fileKey,
  );
  const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
  const key = payloadKey(fileKey, nonce);
  fileKey.fill(0);
  return new AgeEncryptStream(Buffer.concat([header, nonce]), key, options);
}

class AgeEncryptStream extends AgeChunkStream {
  constructor(prefix: Buffer, key: Buffer, options: AgeStreamOptions) {
    super('seal', RUN_CHUNKS * CHUNK_SIZE, options);
    this.key = key;
    this.emitFirst(prefix);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.takePayload(chunk, 0, done);
  }

  override _flush(done: TransformCallback): void {
    this.endPayload(done);
  }

  // The last run ends with the final chunk: short, full (a plaintext of exactly n × 64 KiB), or,
  // for an empty plaintext only, empty.
  protected override runInline(plaintext: Buffer, first: number, final: boolean): RunResult {
    const output = Buffer.allocUnsafeSlow(sealedSize(plaintext.length));
    sealChunksInto(this.key as Buffer, first, final, plaintext, output);
    return { output };
  }

  protected override runResult(output: Buffer): RunResult {
    return { output };
  }
}
