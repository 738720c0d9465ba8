/** At most `slots` holders at a time; others wait in arrival order. */
export class Semaphore {
  private waiting: (() => void)[] = [];
  private held = 0;

  constructor(private readonly slots: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    }
  }
}
