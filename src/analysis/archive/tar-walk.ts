/**
 * Walks a tar stream (plain, or compressed: gzip by its magic 1f 8b, zstd by 28 b5 2f fd; never by
 * a file name) entry by entry with tar-stream's `extract`, with flat memory: every entry body is a
 * stream the caller reads or leaves (what it leaves is drained here).
 *
 * Two things tar-stream does not do, and checkpoint archives need:
 * - Stop at the end-of-archive marker. The runtimes open the archive without O_TRUNC, so a second
 *   checkpoint in the same second overwrites the first in place and the older, longer archive's
 *   tail follows the marker; tar-stream would parse on into it and mix old entries in. A small
 *   block tracker follows the headers (sizes, pax `size=` overrides) and ends the input at the
 *   first zero header block, as Go's archive/tar and GNU tar do.
 * - Never destroy an entry stream: in tar-stream that destroys the whole parser, so a damaged
 *   nested tar (rootfs-diff.tar) would take the outer archive down with it.
 */
import type { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { createZstdDecompress, type ZstdDecompress } from './zstd-decompress.js';

export interface TarEntry {
  /** the entry name without a leading `./` or `/` */
  name: string;
  header: Header;
  body: AsyncIterable<Buffer>;
}

export type Compression = 'none' | 'gzip' | 'zstd';

export interface TarWalk {
  entries: number;
  /** what the bytes were compressed with, told by their first bytes */
  compression: Compression;
  /** the parse failed here (damaged or truncated archive); entries before it were delivered */
  damage?: Error;
  /** bytes after the end-of-archive marker, not parsed */
  trailing: number;
  /** some of those bytes are not zero: left over from an older archive, or appended */
  trailingData: boolean;
  /** errors the entry callback threw (the walk went on) */
  entryErrors: Error[];
}

const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

export function normalizeEntryName(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  return n.replace(/^\/+/, '');
}

/**
 * Follows tar's block structure to find where the archive ends. Once it cannot make sense of a
 * header (damage), it stops judging and lets everything through for tar-stream to report.
 */
class TarEndTracker {
  private pos = 0;
  private nextHeader = 0;
  private readonly header = Buffer.alloc(512);
  private headerFill = 0;
  private paxData: Buffer[] | undefined;
  private paxLeft = 0;
  private paxSize: number | undefined;
  private lost = false;
  /** absolute position of the end-of-archive marker, once seen */
  end: number | undefined;

  /** The part of `chunk` that belongs to the archive (all of it until the marker is seen). */
  take(chunk: Buffer): Buffer {
    if (this.end !== undefined) return chunk.subarray(0, 0);
    const chunkStart = this.pos;
    let i = 0;
    while (i < chunk.length && !this.lost) {
      if (this.pos < this.nextHeader) {
        const n = Math.min(this.nextHeader - this.pos, chunk.length - i);
        if (this.paxData && this.paxLeft > 0) {
          const m = Math.min(n, this.paxLeft);
          this.paxData.push(Buffer.from(chunk.subarray(i, i + m)));
          this.paxLeft -= m;
        }
        i += n;
        this.pos += n;
        continue;
      }
      const n = Math.min(512 - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      this.pos += n;
      if (this.headerFill < 512) break;
      this.headerFill = 0;
      if (this.header.every((b) => b === 0)) {
        this.end = this.pos - 512;
        // The zero block goes to the tar reader whole: when it straddles two chunks, its first part
        // went with the previous one, and a reader left with part of a block calls that damage.
        return chunk.subarray(0, this.pos - chunkStart);
      }
      this.onHeader();
    }
    return chunk;
  }

  private onHeader(): void {
    if (this.paxData) {
      this.paxSize = paxSizeOf(Buffer.concat(this.paxData));
      this.paxData = undefined;
    }
    const type = String.fromCharCode(this.header[156] ?? 0);
    let size = tarNumber(this.header.subarray(124, 136));
    if (size === undefined) {
      this.lost = true;
      return;
    }
    if (type === 'x' || type === 'g') {
      this.paxData = [];
      this.paxLeft = size;
    } else if (this.paxSize !== undefined) {
      size = this.paxSize;
      this.paxSize = undefined;
    }
    // Directories, links and devices carry no data whatever their size field says (tar-stream agrees).
    if (type === '5' || type === '1' || type === '2' || type === '3' || type === '4' || type === '6') size = 0;
    this.nextHeader = this.pos + Math.ceil(size / 512) * 512;
  }
}

/** A tar numeric field: octal text, or base-256 when the top bit of the first byte is set. */
function tarNumber(field: Buffer): number | undefined {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let v = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + (field[i] ?? 0);
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : undefined;
}

function paxSizeOf(data: Buffer): number | undefined {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(data.toString('latin1'));
  return m ? Number(m[1]) : undefined;
}

interface WritableLike {
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroyed?: boolean;
  once(ev: string, fn: (...a: unknown[]) => void): unknown;
  off?(ev: string, fn: (...a: unknown[]) => void): unknown;
}

function drained(w: WritableLike): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off?.('drain', done);
      w.off?.('close', done);
      w.off?.('error', done);
      resolve();
    };
    w.once('drain', done);
    w.once('close', done);
    w.once('error', done);
  });
}

const MAGIC_BYTES = 4;

/** gzip (RFC 1952) starts 1f 8b; a zstd frame (RFC 8878) 28 b5 2f fd; a tar has no magic at its start. */
export function compressionOf(start: Buffer): Compression {
  if (start[0] === 0x1f && start[1] === 0x8b) return 'gzip';
  if (start.length >= 4 && start.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * Reads `source` as a tar and calls `onEntry` for each entry, one at a time. Resolves when the
 * archive ends (or is found damaged: `damage`); rejects only when `source` itself fails.
 */
export async function walkTar(
  source: AsyncIterable<Buffer | Uint8Array>,
  onEntry: (e: TarEntry) => Promise<void>,
  opts: { /** read the source to its end even after the archive ended (it is another tar's entry) */ drain?: boolean } = {},
): Promise<TarWalk> {
  const ex = extract();
  const result: TarWalk = { entries: 0, compression: 'none', trailing: 0, trailingData: false, entryErrors: [] };
  ex.on('error', (e: unknown) => {
    result.damage ??= asError(e);
  });
  const reading = (async () => {
    try {
      for await (const entry of ex) {
        result.entries++;
        try {
          await onEntry({ name: normalizeEntryName(entry.header.name), header: entry.header, body: entry as AsyncIterable<Buffer> });
        } catch (e) {
          result.entryErrors.push(asError(e));
        }
        for await (const _ of entry) {
          /* drain what the callback left */
        }
      }
    } catch (e) {
      result.damage ??= asError(e);
    }
  })();

  const tracker = new TarEndTracker();
  const toTar = async (chunk: Buffer) => {
    const part = tracker.take(chunk);
    if (part.length < chunk.length) {
      result.trailing += chunk.length - part.length;
      if (!result.trailingData) result.trailingData = chunk.subarray(part.length).some((b) => b !== 0);
    }
    if (part.length > 0 && !ex.destroyed && !ex.write(part)) await drained(ex as unknown as WritableLike);
  };
  let decoder: Transform | undefined;
  let decoderDone: Promise<void> | undefined;
  let head: Buffer | undefined = Buffer.alloc(0);
  const write = async (chunk: Buffer) => {
    if (decoder) {
      if (!decoder.destroyed && !decoder.write(chunk)) await drained(decoder);
    } else {
      await toTar(chunk);
    }
  };
  const startDecoder = (d: Transform) => {
    decoderDone = (async () => {
      try {
        for await (const c of d) await toTar(c as Buffer);
      } catch (e) {
        result.damage ??= asError(e);
        ex.destroy(asError(e));
      }
    })();
    return d;
  };
  try {
    for await (const raw of source) {
      let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      const over = result.damage !== undefined || ex.destroyed || (tracker.end !== undefined && !decoder);
      if (over) {
        if (opts.drain === false) break;
        if (!result.damage && !ex.destroyed) await toTar(chunk); // only counts the bytes after the end
        continue; // keep draining: the source may be another tar's entry
      }
      if (head) {
        chunk = Buffer.concat([head, chunk]);
        if (chunk.length < MAGIC_BYTES) {
          head = chunk;
          continue;
        }
        head = undefined;
        result.compression = compressionOf(chunk);
        if (result.compression === 'gzip') decoder = startDecoder(createGunzip());
        if (result.compression === 'zstd') decoder = startDecoder(createZstdDecompress());
      }
      await write(chunk);
    }
    if (head && head.length > 0) await toTar(head);
  } catch (e) {
    ex.destroy(asError(e));
    decoder?.destroy();
    await reading;
    throw e;
  }
  if (decoder) {
    decoder.end();
    await decoderDone;
    // the zstd decoder ends cleanly at a fault and says what it was (zstd-decompress.ts)
    const failure = (decoder as ZstdDecompress).failure;
    if (failure) result.damage ??= failure;
  }
  if (!ex.destroyed) ex.end(null);
  await reading;
  // An entry cut short by the damage fails with the damage itself: said once, as the damage.
  if (result.damage) result.entryErrors = result.entryErrors.filter((e) => e.message !== result.damage?.message);
  return result;
}
