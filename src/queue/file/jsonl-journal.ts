import { open, readFile, rename, mkdir, writeFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AmberError } from '../../core/amber-error.js';

/** Where one record's line is in the file: its first byte and its length without the newline. */
export interface JournalPosition {
  readonly offset: number;
  readonly length: number;
}

/** A record read at open, and where its line is. */
export interface JournalRecord {
  readonly value: unknown;
  readonly at: JournalPosition;
}

/**
 * An append-only file of JSON lines, fsynced before an append resolves. Appends that arrive
 * while a write is in flight are written together with one fsync (group commit), so durability
 * costs one fsync per batch, not per request.
 *
 * Recovery: a final line without its newline is a write the process died in; it was never
 * acknowledged, so it is cut off. Any other unreadable line is corruption and stops the open.
 *
 * Records can be read back by position (`read`) through a handle of their own, so a caller can
 * keep positions in memory instead of the records, and reads still work after a write failed.
 */
export class JsonlJournal {
  private pending: { line: Buffer; done: (e?: Error, at?: JournalPosition) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private size: number;
  private broken: Error | undefined;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    /** Read-only: reads go on when the writing handle has failed (or been closed under us). */
    private reader: FileHandle,
    size: number,
    private readonly lockPath: string,
  ) {
    this.size = size;
  }

  /** Opens (creating) `<dir>/<name>`, takes `<dir>/<lock>`, and returns the records already in it. */
  static async open(dir: string, name: string, lock = 'LOCK'): Promise<{ journal: JsonlJournal; records: JournalRecord[] }> {
    await mkdir(dir, { recursive: true });
    const lockPath = join(dir, lock);
    await takeLock(lockPath);
    const path = join(dir, name);
    try {
      const { records, goodBytes, totalBytes } = await readRecords(path);
      const fh = await open(path, 'a+');
      let reader: FileHandle;
      try {
        if (goodBytes < totalBytes) {
          await fh.truncate(goodBytes); // an unacknowledged, half-written last line
          await fh.datasync();
        }
        reader = await open(path, 'r');
      } catch (e) {
        await fh.close();
        throw e;
      }
      return { journal: new JsonlJournal(path, fh, reader, goodBytes, lockPath), records };
    } catch (e) {
      await unlink(lockPath).catch(() => undefined);
      throw e;
    }
  }

  get healthy(): boolean {
    return this.broken === undefined;
  }

  /** Resolves once `record` is on disk, with where its line is. */
  append(record: unknown): Promise<JournalPosition> {
    if (this.broken) return Promise.reject(unavailable(this.broken));
    // Encoded at once: the text dies young, and the bytes wait for the write outside V8's heap
    // (a line kept as a string until its group is written outlives a few minor GCs and is copied
    // by each; under a stream of new captures that was a large part of the GC's work).
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    return new Promise((resolve, reject) => {
      this.pending.push({ line, done: (e, at) => (e ? reject(e) : resolve(at as JournalPosition)) });
      this.flushing ??= this.flush();
    });
  }

  /** The record whose line is at `at` (a position `append` or `open` gave). */
  async read(at: JournalPosition): Promise<unknown> {
    const buf = Buffer.allocUnsafe(at.length);
    let got = 0;
    while (got < at.length) {
      const { bytesRead } = await this.reader.read(buf, got, at.length - got, at.offset + got);
      if (bytesRead === 0) throw new AmberError('QUEUE_CORRUPT', { file: this.path, offset: at.offset, problem: 'record past the end of the file' });
      got += bytesRead;
    }
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (cause) {
      throw new AmberError('QUEUE_CORRUPT', { file: this.path, offset: at.offset }, { cause });
    }
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const data = batch.length === 1 ? (batch[0] as (typeof batch)[number]).line : Buffer.concat(batch.map((b) => b.line));
      const base = this.size;
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
        let offset = base;
        for (const b of batch) {
          b.done(undefined, { offset, length: b.line.length - 1 });
          offset += b.line.length;
        }
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
  async compact(records: readonly unknown[]): Promise<JournalPosition[]> {
    const tmp = `${this.path}.compact`;
    const lines = records.map((r) => `${JSON.stringify(r)}\n`);
    const text = lines.join('');
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
    const freshReader = await open(this.path, 'r').catch(async (e: unknown) => {
      await fresh.close();
      throw e;
    });
    await this.fh.close();
    await this.reader.close();
    this.fh = fresh;
    this.reader = freshReader;
    const positions: JournalPosition[] = [];
    let offset = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      positions.push({ offset, length: bytes - 1 });
      offset += bytes;
    }
    this.size = offset;
    return positions;
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    try {
      await this.fh.close();
    } finally {
      await this.reader.close().catch(() => undefined);
      await unlink(this.lockPath).catch(() => undefined);
    }
  }
}

function unavailable(cause: unknown): AmberError {
  return new AmberError('QUEUE_UNAVAILABLE', {}, { cause });
}

async function readRecords(path: string): Promise<{ records: JournalRecord[]; goodBytes: number; totalBytes: number }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], goodBytes: 0, totalBytes: 0 };
    throw e;
  }
  const records: JournalRecord[] = [];
  let start = 0;
  let line = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    line++;
    if (nl === -1) break; // torn tail: never acknowledged
    const text = buf.subarray(start, nl).toString('utf8');
    try {
      records.push({ value: JSON.parse(text), at: { offset: start, length: nl - start } });
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
