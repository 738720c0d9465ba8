import { Worker } from 'node:worker_threads';
import { AmberError } from '../../core/amber-error.js';

/** What the workers do to a run of payload chunks. */
export type ChunkOp = 'seal' | 'open';

/** What a worker is started with: the payload key is shared, so that zeroing it here zeroes it there. */
export interface ChunkWorkerData {
  readonly op: ChunkOp;
  readonly key: SharedArrayBuffer;
}

/** A run of whole non-final chunks, as posted to a worker. `input` is transferred, not copied. */
export interface ChunkJobMessage {
  /** The index of the run's first chunk in the file. */
  readonly first: number;
  readonly input: ArrayBuffer;
  /** Bytes of `input` in use. */
  readonly length: number;
}

/**
 * A worker's answer: `length` bytes of `output` (the sealed run, or the plaintext of the chunks
 * that opened, which stops short at the first that failed), and the job's input handed back.
 */
export interface ChunkResultMessage {
  readonly output: ArrayBuffer;
  readonly length: number;
  readonly input: ArrayBuffer;
}

export type ChunkResultHandler = (output: Buffer, input: ArrayBuffer) => void;

interface PoolWorker {
  readonly thread: Worker;
  ready: boolean;
  /** Handlers of the jobs posted to it, oldest first: a worker answers in the order it was asked. */
  readonly pending: ChunkResultHandler[];
}

// Beside this module: .js in dist/; under the test loader the .js name resolves to the .ts file,
// in the worker too, since a worker inherits the process's execArgv (and so its --import hooks).
const WORKER_URL = new URL('./age-chunk-worker.js', import.meta.url);

/**
 * Worker threads that seal or open runs of age payload chunks off the calling thread. STREAM
 * chunks are independent given their index, so runs can be processed in parallel; the caller
 * keeps the results in file order and bounds how many runs are in flight.
 *
 * Workers start in the background; until one has said it is ready, submit() returns false and the
 * caller does the run itself, so start-up never stalls a stream. A worker holds the event loop
 * open only while it has jobs: an idle or starting pool never keeps a process alive. terminate()
 * must be called when the stream ends, fails or is destroyed; it also zeroes the shared key.
 */
export class AgeChunkPool {
  private readonly workers: PoolWorker[] = [];
  private readonly key: Uint8Array;
  private closed = false;

  constructor(
    op: ChunkOp,
    key: Uint8Array,
    size: number,
    private readonly onError: (error: Error) => void,
    /** Post jobs to workers that are still starting (they queue them) rather than answer false. */
    private readonly eager = false,
  ) {
    const shared = new SharedArrayBuffer(key.length);
    this.key = new Uint8Array(shared);
    this.key.set(key);
    const workerData: ChunkWorkerData = { op, key: shared };
    for (let i = 0; i < size; i++) this.workers.push(this.start(workerData));
  }

  /** Threads started and not yet terminated. */
  get threads(): number {
    return this.closed ? 0 : this.workers.length;
  }

  /**
   * Posts `job` to the ready worker with the fewest jobs and returns true, or returns false when
   * none is ready (nor starting, when eager). `done` gets the result, unless the pool was terminated first.
   */
  submit(job: ChunkJobMessage, done: ChunkResultHandler): boolean {
    if (this.closed) return false;
    let best: PoolWorker | undefined;
    for (const w of this.workers) if ((w.ready || this.eager) && (best === undefined || w.pending.length < best.pending.length)) best = w;
    if (best === undefined) return false;
    if (best.pending.length === 0) best.thread.ref();
    best.pending.push(done);
    best.thread.postMessage(job, [job.input]);
    return true;
  }

  /** Stops every worker and zeroes the key; results still in flight are dropped. */
  async terminate(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.key.fill(0);
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  private start(workerData: ChunkWorkerData): PoolWorker {
    const thread = new Worker(WORKER_URL, { workerData });
    const w: PoolWorker = { thread, ready: false, pending: [] };
    thread.unref();
    thread.on('message', (m: ChunkResultMessage | 'ready') => {
      if (this.closed) return;
      if (m === 'ready') {
        w.ready = true;
        return;
      }
      const done = w.pending.shift() as ChunkResultHandler;
      if (w.pending.length === 0) thread.unref();
      done(Buffer.from(m.output, 0, m.length), m.input);
    });
    thread.on('error', (e) => this.fail(e));
    thread.on('exit', (code) => this.fail(new Error(`the worker exited with code ${code}`)));
    return w;
  }

  private fail(cause: Error): void {
    if (this.closed) return;
    void this.terminate();
    this.onError(new AmberError('INTERNAL', { reason: 'an age payload worker thread failed' }, { cause }));
  }
}
