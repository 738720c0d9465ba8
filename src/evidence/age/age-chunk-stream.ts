import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { AgeChunkPool, type ChunkOp } from './age-chunk-pool.js';

/** Payload chunks per run: the unit sealed or opened at once, and pushed as one piece (~1 MiB). */
export const RUN_CHUNKS = 16;
/** Runs handed out but not yet pushed: bounds memory to a few MiB whatever the file size. */
const MAX_RUNS_IN_FLIGHT = 4;
/** A worker's start-up (an isolate, ~50–70 ms of a CPU) pays off only over a long file. */
const DEFAULT_WORKERS_AFTER = 64 * 1024 * 1024;

/** Tuning of the age streams; the defaults suit amber, the knobs serve benchmarks and tests. */
export interface AgeStreamOptions {
  /**
   * Worker threads for the payload; 0 keeps it on the calling thread. Default: 1 given three CPUs
   * or more, else 0. On two, the calling thread and libuv's file I/O keep both busy, and a worker
   * was faster only for a GiB-sized file with glibc's default malloc settings; more than one did
   * not pay, and Node cannot see a container's CPU quota (docs/benchmarks-history.md, Encryption).
   */
  readonly workers?: number;
  /** Payload bytes handled on the calling thread before workers start: smaller files never start one. Default 64 MiB. */
  readonly workersAfter?: number;
  /** Hand runs to workers while they are still starting, instead of doing them inline meanwhile (tests). */
  readonly waitForWorkers?: boolean;
}

/** What a run gives: output to push, then possibly the error that ends the stream. */
export interface RunResult {
  readonly output: Buffer;
  readonly error?: Error;
}

interface Slot {
  result?: RunResult;
}

/**
 * The machinery shared by the age encrypting and decrypting streams: payload bytes are gathered
 * into runs of RUN_CHUNKS chunks, each run is sealed or opened inline or on an AgeChunkPool
 * worker, and the results are pushed in file order. A run is handed out only once a further byte
 * exists, so the last run, which holds the final chunk, is known as such and is always done
 * inline, with the format's end-of-file rules.
 *
 * Flow control is this class's own, because Transform's _write (which subclasses replace) holds a
 * write back until _read only when _transform itself pushed; results of workers pushed between
 * writes would make it wait for a _read that never comes. Here a write is held back while
 * MAX_RUNS_IN_FLIGHT runs are out, or after push() said the reader is full, until the next _read.
 */
export abstract class AgeChunkStream extends Transform {
  /** The payload key, once known; zeroed when the stream ends. */
  protected key: Buffer | undefined;
  private job: Buffer | undefined;
  private jobBuffer: ArrayBuffer | undefined;
  private filled = 0;
  /** The index of the first chunk of the run being filled. */
  private index = 0;
  private payloadBytes = 0;
  /** Run buffers back from processing, for reuse. */
  private readonly spare: ArrayBuffer[] = [];
  /** Runs in file order; the head is pushed as soon as it is done. */
  private readonly queue: Slot[] = [];
  private pool: AgeChunkPool | undefined;
  /** A write held back until a run slot is free or the reader has caught up. */
  private paused: { chunk: Buffer; pos: number; done: TransformCallback } | undefined;
  private full = false;
  /** The error that ended the stream, once one did. */
  private failure: Error | undefined;
  private flushed: TransformCallback | undefined;
  private workers: number;
  private readonly workersAfter: number;
  private readonly waitForWorkers: boolean;

  protected constructor(
    private readonly op: ChunkOp,
    /** Input bytes per run: RUN_CHUNKS plaintext chunks (seal) or sealed chunks (open). */
    private readonly runBytes: number,
    options: AgeStreamOptions,
  ) {
    super({ readableHighWaterMark: MAX_RUNS_IN_FLIGHT * runBytes });
    this.workers = options.workers ?? (availableParallelism() > 2 ? 1 : 0);
    this.workersAfter = options.workersAfter ?? DEFAULT_WORKERS_AFTER;
    this.waitForWorkers = options.waitForWorkers ?? false;
  }

  /** Does a run on this thread; `final` when it ends the payload. */
  protected abstract runInline(bytes: Buffer, first: number, final: boolean): RunResult;

  /** Makes a result of a worker's output for the non-final run `bytes`. */
  protected abstract runResult(output: Buffer, bytes: Buffer, first: number): RunResult;

  /** Output ahead of the payload (the header, for encryption). */
  protected emitFirst(output: Buffer): void {
    this.queue.push({ result: { output } });
  }

  override _read(): void {
    this.full = false;
    this.unpause();
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    this.release().then(
      () => done(error),
      () => done(error),
    );
  }

  /** Takes the payload bytes of `chunk` from `from` on; calls `done` when it may be given more. */
  protected takePayload(chunk: Buffer, from: number, done: TransformCallback): void {
    if (this.failure !== undefined) return done(this.failure);
    this.payloadBytes += chunk.length - from;
    this.fill(chunk, from, done);
  }

  /** The payload has ended: does the last run, and calls `done` once everything is pushed. */
  protected endPayload(done: TransformCallback): void {
    this.flushed = done;
    let error: Error | undefined;
    try {
      if (this.job === undefined) this.acquire(); // an empty payload
      error = this.dispatch(true);
    } catch (e) {
      error = e as Error;
    }
    if (error === undefined) return;
    this.flushed = undefined;
    done(error);
  }

  private fill(chunk: Buffer, from: number, done: TransformCallback): void {
    let pos = from;
    try {
      while (pos < chunk.length) {
        if (this.job === undefined || this.filled === this.runBytes) {
          if (this.job !== undefined) {
            const error = this.dispatch(false);
            if (error !== undefined) return done(error);
          }
          if (this.congested()) {
            this.paused = { chunk, pos, done };
            return;
          }
          this.acquire();
        }
        const n = chunk.copy(this.job as Buffer, this.filled, pos, Math.min(chunk.length, pos + this.runBytes - this.filled));
        this.filled += n;
        pos += n;
      }
    } catch (e) {
      return done(e as Error);
    }
    done();
  }

  private congested(): boolean {
    return this.queue.length > MAX_RUNS_IN_FLIGHT || this.full;
  }

  private unpause(): void {
    if (this.paused === undefined || this.failure !== undefined || this.congested()) return;
    const { chunk, pos, done } = this.paused;
    this.paused = undefined;
    this.fill(chunk, pos, done);
  }

  private acquire(): void {
    this.jobBuffer = this.spare.pop() ?? new ArrayBuffer(this.runBytes);
    this.job = Buffer.from(this.jobBuffer);
    this.filled = 0;
  }

  /** Hands the run out, to a worker when one is ready, inline otherwise; an error it surfaced. */
  private dispatch(final: boolean): Error | undefined {
    const job = this.job as Buffer;
    const input = this.jobBuffer as ArrayBuffer;
    const length = this.filled;
    const first = this.index;
    this.job = undefined;
    this.jobBuffer = undefined;
    this.index += RUN_CHUNKS;
    const slot: Slot = {};
    this.queue.push(slot);
    if (!final && this.pool === undefined && this.workers > 0 && this.payloadBytes > this.workersAfter) this.startPool();
    const onWorker =
      !final &&
      this.pool?.submit({ first, input, length }, (output, back) => {
        try {
          slot.result = this.runResult(output, Buffer.from(back, 0, length), first);
          this.spare.push(back);
          const error = this.drain();
          if (error === undefined) this.unpause();
          else this.failLater(error);
        } catch (e) {
          this.failLater(e as Error);
        }
      });
    if (onWorker === true) return undefined;
    slot.result = this.runInline(job.subarray(0, length), first, final);
    this.spare.push(input);
    return this.drain();
  }

  private startPool(): void {
    try {
      this.pool = new AgeChunkPool(this.op, this.key as Buffer, this.workers, (e) => this.failLater(e), this.waitForWorkers);
    } catch {
      // No thread to be had (a resource limit): the stream is as correct inline, only slower.
      this.workers = 0;
    }
  }

  /** Pushes the runs done at the head of the queue; ends the stream after the last one. */
  private drain(): Error | undefined {
    while (this.failure === undefined && this.queue[0]?.result !== undefined) {
      const { output, error } = (this.queue.shift() as Slot).result as RunResult;
      // Readable's contract: after push() says false, wait for the next _read, which it then owes us.
      if (output.length > 0 && !this.push(output)) this.full = true;
      if (error !== undefined) {
        this.failure = error;
        return error;
      }
    }
    if (this.flushed !== undefined && this.queue.length === 0 && this.failure === undefined) {
      const done = this.flushed;
      this.flushed = undefined;
      this.release().then(() => done(), done);
    }
    return undefined;
  }

  /** An error found outside a write or flush call: given to the held one, if any. */
  private failLater(error: Error): void {
    this.failure = error;
    const held = this.paused?.done ?? this.flushed;
    this.paused = undefined;
    this.flushed = undefined;
    if (held !== undefined) held(error);
    else this.destroy(error);
  }

  private async release(): Promise<void> {
    this.key?.fill(0);
    this.paused = undefined;
    await this.pool?.terminate();
  }
}
