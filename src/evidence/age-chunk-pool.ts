import { Worker } from 'node:worker_threads';
import { AmberError } from '../core/amber-error.js';

/** What a worker is started with: the payload key, shared so that zeroing it here zeroes it there. */
export interface ChunkWorkerData {
  readonly key: SharedArrayBuffer;
}

/** A run of chunks to seal, as posted to a worker. `input` is transferred, not copied. */
export interface ChunkJobMessage {
  /** The index of the run's first chunk in the file. */
  readonly first: number;
  /** The run ends with the file's final chunk. */
  readonly final: boolean;
  readonly input: ArrayBuffer;
  /** Plaintext bytes in `input`. */
  readonly length: number;
}

/** A worker's answer: the sealed run, and the job's input buffer handed back for reuse. */
export interface ChunkResultMessage {
  readonly output: ArrayBuffer;
  readonly length: number;
  readonly input: ArrayBuffer;
}

export type ChunkResultHandler = (output: Buffer[], input: ArrayBuffer) => void;

interface PoolWorker {
  readonly thread: Worker;
  ready: boolean;
  /** Handlers of the jobs posted to it, oldest first: a worker answers in the order it was asked. */
  readonly pending: ChunkResultHandler[];
}

// The worker's source sits beside this module: .js in dist/, .ts under the test loader (which
// resolves the .js name to the .ts file, in the worker too, since workers inherit execArgv).
const WORKER_URL = new URL('./age-chunk-worker.js', import.meta.url);

/**
 * Worker threads that seal runs of age payload chunks off the calling thread. STREAM chunks are
 * independent given their index, so runs can be sealed in parallel; the caller keeps them in
 * file order and bounds how many are in flight.
 *
 * Workers start in the background; until one has said it is ready, submit() returns false and
 * the caller seals inline, so start-up never stalls a stream. A worker holds the event loop open
 * only while it has jobs: an idle or starting pool never keeps a process alive. terminate() must
 * be called when the stream ends, fails or is destroyed; it zeroes the shared key.
 */
export class AgeChunkPool {
  private readonly workers: PoolWorker[] = [];
  private readonly key: Uint8Array;
  private closed = false;

  constructor(
    key: Uint8Array,
    size: number,
    pieces: boolean,
    private readonly onError: (error: Error) => void,
  ) {
    const shared = new SharedArrayBuffer(key.length);
    this.key = new Uint8Array(shared);
    this.key.set(key);
    const workerData = { key: shared, pieces };
    for (let i = 0; i < size; i++) this.workers.push(this.start(workerData));
  }

  /**
   * Posts `job` to the ready worker with the fewest jobs, if it has fewer than `maxPending`;
   * false when there is none (the caller seals inline). `done` runs with the sealed run.
   */
  submit(job: ChunkJobMessage, done: ChunkResultHandler, maxPending = Infinity): boolean {
    if (this.closed) return false;
    let best: PoolWorker | undefined;
    for (const w of this.workers) {
      if (w.ready && w.pending.length < maxPending && (best === undefined || w.pending.length < best.pending.length)) best = w;
    }
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

  private start(workerData: ChunkWorkerData & { pieces: boolean }): PoolWorker {
    const young = Number(process.env.EXP_YOUNG ?? 0);
    const thread = new Worker(WORKER_URL, young ? { workerData, resourceLimits: { maxYoungGenerationSizeMb: young } } : { workerData });
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
      const mm = m as ChunkResultMessage & { pieces?: ArrayBuffer[] };
      done(mm.pieces ? mm.pieces.map((b) => Buffer.from(b)) : [Buffer.from(m.output, 0, m.length)], m.input);
    });
    thread.on('error', (e) => this.fail(e));
    thread.on('exit', (code) => this.fail(new Error(`exited with code ${code}`)));
    return w;
  }

  private fail(cause: Error): void {
    if (this.closed) return;
    void this.terminate();
    this.onError(new AmberError('INTERNAL', { reason: 'an age chunk worker failed' }, { cause }));
  }
}
