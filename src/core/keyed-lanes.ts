/**
 * Runs tasks one after another per key; tasks of different keys run side by side. A failed task
 * does not stop the next one of its key. `after` (a pause, say) runs between a task and the next
 * one of the same key, whatever the task's outcome.
 */
export class KeyedLanes {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>, after?: () => Promise<void>): Promise<T> {
    const run = (this.tails.get(key) ?? Promise.resolve()).catch(() => undefined).then(task);
    const settled = after ? run.then(after, after) : run.catch(() => undefined);
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return run;
  }
}
