import { open, readFile, rename, mkdir, writeFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AmberError } from '../core/amber-error.js';

/**
 * An append-only file of JSON lines, fsynced before an append resolves. Appends that arrive
 * while a write is in flight are written together with one fsync (group commit), so durability
 * costs one fsync per batch, not per request.
 *
 * Recovery: a final line without its newline is a write the process died in; it was never
 * acknowledged, so it is cut off. Any other unreadable line is corruption and stops the open.
 */
export class JsonlJournal {
  private pending: { line: string; done: (e?: Error) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private size: number;
  private broken: Error | undefined;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    size: number,
    private readonly lockPath: string,
  ) {
    this.size = size;
  }

  /** Opens (creating) `<dir>/<name>`, takes `<dir>/<lock>`, and returns the records already in it. */
  static async open(dir: string, name: string, lock = 'LOCK'): Promise<{ journal: JsonlJournal; records: unknown[] }> {
    await mkdir(dir, { recursive: true });
    const lockPath = join(dir, lock);
    await takeLock(lockPath);
    const path = join(dir, name);
    try {
      const { records, goodBytes, totalBytes } = await readRecords(path);
      const fh = await open(path, 'a+');
      if (goodBytes < totalBytes) {
        await fh.truncate(goodBytes); // an unacknowledged, half-written last line
        await fh.datasync();
      }
      return { journal: new JsonlJournal(path, fh, goodBytes, lockPath), records };
    } catch (e) {
      await unlink(lockPath).catch(() => undefined);
      throw e;
    }
  }

  get healthy(): boolean {
    return this.broken === undefined;
  }

  /** Resolves once `record` is on disk. */
  append(record: unknown): Promise<void> {
    if (this.broken) return Promise.reject(unavailable(this.broken));
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(record)}\n`, done: (e) => (e ? reject(e) : resolve()) });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const data = Buffer.from(batch.map((b) => b.line).join(''));
      try {
        if (this.broken) throw this.broken;
        let written = 0;
        while (written < data.length) {
          const { bytesWritten } = await this.fh.write(data, written, data.length - written, this.size + written);
          if (bytesWritten === 0) throw new Error('journal write made no progress');
          written += bytesWritten;
        }
        await this.fh.datasync();
        this.size += data.length;
        for (const b of batch) b.done();
      } catch (cause) {
        this.broken ??= cause instanceof Error ? cause : new Error(String(cause));
        // Cut back anything partly written so the file stays readable after a restart.
        await this.fh.truncate(this.size).catch(() => undefined);
        for (const b of batch) b.done(unavailable(cause));
      }
    }
    this.flushing = undefined;
  }

  /**
   * Rewrites the file to hold exactly `records` (temp file, fsync, rename), e.g. to drop
   * superseded status records at start-up. Only call before any append.
   */
  async compact(records: readonly unknown[]): Promise<void> {
    const tmp = `${this.path}.compact`;
    const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    // Reopen onto the new inode: the old handle points at the replaced file.
    const fresh = await open(this.path, 'a+');
    await this.fh.close();
    this.fh = fresh;
    this.size = Buffer.byteLength(text);
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.fh.close();
    await unlink(this.lockPath).catch(() => undefined);
  }
}

function unavailable(cause: unknown): AmberError {
  return new AmberError('QUEUE_UNAVAILABLE', {}, { cause });
}

async function readRecords(path: string): Promise<{ records: unknown[]; goodBytes: number; totalBytes: number }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], goodBytes: 0, totalBytes: 0 };
    throw e;
  }
  const records: unknown[] = [];
  let start = 0;
  let line = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    line++;
    if (nl === -1) break; // torn tail: never acknowledged
    const text = buf.subarray(start, nl).toString('utf8');
    try {
      records.push(JSON.parse(text));
    } catch (cause) {
      throw new AmberError('QUEUE_CORRUPT', { file: path, line }, { cause });
    }
    start = nl + 1;
  }
  return { records, goodBytes: start, totalBytes: buf.length };
}

/** One process per journal: a second `serve` on the same data dir would fork history. */
async function takeLock(lockPath: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
        throw new AmberError('QUEUE_LOCKED', { lock: lockPath, pid: holder });
      }
      await unlink(lockPath).catch(() => undefined); // stale lock of a dead process
    }
  }
  throw new AmberError('QUEUE_LOCKED', { lock: lockPath });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
