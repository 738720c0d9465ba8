import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import { AgeChunkPool } from './age-chunk-pool.js';
import { CHUNK_SIZE, FILE_KEY_SIZE, PAYLOAD_NONCE_SIZE, formatHeader, payloadKey, sealChunks, sealChunksInto, sealedSize, wrapFileKeyX25519 } from './age-format.js';
import { parseAgeRecipient } from './age-keys.js';

/** Plaintext sealed per job (inline or on a worker), and pushed as one output piece. */
const JOB_CHUNKS = Number(process.env.EXP_JOB ?? 16);
const JOB_SIZE = JOB_CHUNKS * CHUNK_SIZE;
/** Jobs sealed or being sealed but not yet pushed: bounds memory to a few MiB. */
const MAX_JOBS_IN_FLIGHT = Number(process.env.EXP_INFLIGHT ?? 4);

/** Tuning, for benchmarks and tests; the defaults suit amber. */
export interface AgeEncryptOptions {
  /** Worker threads that seal the payload; 0 seals on the calling thread. Default: CPUs − 1, 1 to 3. */
  readonly workers?: number;
  /** Plaintext bytes sealed inline before the workers start; smaller files never start one. Default 8 MiB. */
  readonly workersAfter?: number;
  readonly pieces?: boolean;
  readonly hybrid?: number;
}

/**
 * A Transform from plaintext to an age v1 file (binary, not armored) that any one of
 * `recipients` (`age1…` X25519 keys) can open, with the `age` tool or createAgeDecryptStream.
 * Throws AGE_BAD_RECIPIENT at once for a malformed recipient or none.
 *
 * Past the first `workersAfter` bytes the chunks are sealed on worker threads (see
 * AgeChunkPool), in runs of 1 MiB, at most a few runs in flight: memory stays flat whatever the
 * input size. The workers end with the stream (finish, error or destroy); a stream that is
 * neither finished nor destroyed leaves idle workers behind, which do not hold the process open.
 */
export function createAgeEncryptStream(recipients: readonly string[], options: AgeEncryptOptions = {}): Transform {
  if (recipients.length === 0) throw new AmberError('AGE_BAD_RECIPIENT', { reason: 'no recipient given' });
  const publicKeys = recipients.map(parseAgeRecipient);
  const fileKey = randomBytes(FILE_KEY_SIZE);
  const header = formatHeader(publicKeys.map((pk) => wrapFileKeyX25519(fileKey, pk)), fileKey);
  const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
  const key = payloadKey(fileKey, nonce);
  fileKey.fill(0);
  return new AgeEncryptStream(Buffer.concat([header, nonce]), key, {
    workers: options.workers ?? Math.min(3, Math.max(1, availableParallelism() - 1)),
    workersAfter: options.workersAfter ?? 8 * 1024 * 1024,
    pieces: options.pieces ?? false,
    hybrid: options.hybrid ?? Infinity,
  });
}

/** A run of chunks in file order; `output` is set once it is sealed. */
interface Slot {
  output?: Buffer[];
}

class AgeEncryptStream extends Transform {
  /** Plaintext of the job being filled, and how much of it is. */
  private job: Buffer | undefined;
  private jobBuffer: ArrayBuffer | undefined;
  private filled = 0;
  /** The index of the job's first chunk. */
  private index = 0;
  private received = 0;
  /** Job buffers back from sealing, for reuse. */
  private readonly spare: ArrayBuffer[] = [];
  /** Sealed or in-flight runs in file order; the head is pushed as soon as it is sealed. */
  private readonly queue: Slot[] = [];
  private pool: AgeChunkPool | undefined;
  /** A write held back until a job slot is free or the reader has caught up. */
  private paused: { chunk: Buffer; pos: number; done: TransformCallback } | undefined;
  /** The readable side is at its high-water mark: no more input until the next _read. */
  private full = false;
  private flushed: TransformCallback | undefined;

  constructor(
    prefix: Buffer,
    private readonly key: Buffer,
    private readonly options: Required<AgeEncryptOptions>,
  ) {
    super({ readableHighWaterMark: MAX_JOBS_IN_FLIGHT * JOB_SIZE });
    this.queue.push({ output: [prefix] });
  }

  // Transform's own _write holds a write's callback back until _read when the readable side
  // looks full, judged by whether _transform pushed; pushes of worker results between writes fool
  // it into waiting for a _read that never comes. So this stream does its own flow control.
  override _write(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    this.fill(chunk, 0, done);
  }

  override _read(): void {
    this.full = false;
    this.unpause();
  }

  override _flush(done: TransformCallback): void {
    try {
      this.flushed = done;
      // The final chunk: short, full, or (only for an empty plaintext) empty.
      if (this.job === undefined) this.acquire();
      this.dispatch(true);
      this.drain();
    } catch (e) {
      done(e as Error);
    }
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    this.release().then(
      () => done(error),
      () => done(error),
    );
  }

  private fill(chunk: Buffer, from: number, done: TransformCallback): void {
    try {
      let pos = from;
      while (pos < chunk.length) {
        if (this.job === undefined || this.filled === JOB_SIZE) {
          // A full job is sealed only once a further byte exists: only then is its last chunk known
          // not to be the final one. A plaintext of exactly n × 64 KiB thus ends with a full final chunk.
          if (this.job !== undefined) this.dispatch(false);
          if (this.congested()) {
            this.paused = { chunk, pos, done };
            return;
          }
          this.acquire();
        }
        const job = this.job as Buffer;
        const n = chunk.copy(job, this.filled, pos, Math.min(chunk.length, pos + JOB_SIZE - this.filled));
        this.filled += n;
        pos += n;
      }
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  /** Too many jobs in flight, or too much sealed and not yet read: wait before taking more input. */
  private congested(): boolean {
    return this.queue.length > MAX_JOBS_IN_FLIGHT || this.full;
  }

  private unpause(): void {
    if (this.paused === undefined || this.congested()) return;
    const { chunk, pos, done } = this.paused;
    this.paused = undefined;
    this.fill(chunk, pos, done);
  }

  private acquire(): void {
    this.jobBuffer = this.spare.pop() ?? new ArrayBuffer(JOB_SIZE);
    this.job = Buffer.from(this.jobBuffer);
    this.filled = 0;
  }

  /** Seals the job, on a worker when one is ready, inline otherwise. */
  private dispatch(final: boolean): void {
    const job = this.job as Buffer;
    const buffer = this.jobBuffer as ArrayBuffer;
    const length = this.filled;
    const first = this.index;
    this.job = undefined;
    this.jobBuffer = undefined;
    this.index += JOB_CHUNKS;
    const slot: Slot = {};
    this.queue.push(slot);
    if (this.pool === undefined && !final && this.options.workers > 0 && this.received > this.options.workersAfter) {
      this.pool = new AgeChunkPool(this.key, this.options.workers, this.options.pieces, (e) => this.destroy(e));
    }
    const onWorker = this.pool?.submit({ first, final, input: buffer, length }, (output, input) => {
      slot.output = output;
      this.spare.push(input);
      this.drain();
      this.unpause();
    }, this.options.hybrid);
    if (onWorker === true) return;
    if (this.options.pieces) {
      slot.output = sealChunks(this.key, first, final, job.subarray(0, length));
    } else {
      const output = Buffer.allocUnsafeSlow(sealedSize(length));
      sealChunksInto(this.key, first, final, job.subarray(0, length), output);
      slot.output = [output];
    }
    this.spare.push(buffer);
    this.drain();
  }

  /** Pushes the sealed runs at the head of the queue; ends the stream after the last one. */
  private drain(): void {
    while (this.queue[0]?.output !== undefined) {
      // Readable's contract: after push() says false, wait for the next _read, which it then owes us.
      for (const piece of (this.queue.shift() as Slot).output as Buffer[]) if (!this.push(piece)) this.full = true;
    }
    if (this.flushed === undefined || this.queue.length > 0) return;
    const done = this.flushed;
    this.flushed = undefined;
    this.release().then(() => done(), done);
  }

  private async release(): Promise<void> {
    this.key.fill(0);
    this.paused = undefined;
    await this.pool?.terminate();
  }
}
