/**
 * Runs callbacks together at the end of the event loop's current turn (its check phase, right
 * after the turn's I/O callbacks), in the order they were given.
 *
 * Why the intake answers through this: under load one turn reads dozens of requests. Answering
 * each as soon as it is handled puts a `writev` — the kernel's whole TCP send path, and a wake-up
 * of the client — between one request's JavaScript and the next, and the two keep evicting each
 * other from the CPU's caches. Answering the turn's requests together after its reads keeps each
 * side warm: on the benchmark machine it took ~13 µs of CPU off every duplicate alert (a fifth of
 * its cost; docs/benchmarks-history.md). Under light load a turn holds one request, and its answer goes
 * out at once. Nothing waits on a timer.
 */
export class EndOfTurn {
  private pending: (() => void)[] = [];

  /** `onError`: told of a callback that threw; the others still run. */
  constructor(private readonly onError: (err: unknown) => void) {}

  run(callback: () => void): void {
    if (this.pending.push(callback) === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    for (const callback of batch) {
      try {
        callback();
      } catch (err) {
        this.onError(err);
      }
    }
  };
}
