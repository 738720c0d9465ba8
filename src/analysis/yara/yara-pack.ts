/**
 * The pack of YaraMemoryScan: small regions of one pages file (one process), one after another in
 * one buffer of a window's size, scanned with one call when the next would not fit or the file ends
 * (YARA-X costs 7–15 ms per scan whatever its size; docs/benchmarks.md).
 *
 * A segment is reserved before its bytes come, so that a small stretch is read straight into its
 * place; the pack is not scanned while a segment is still open. Bytes a segment did not fill (a
 * short file) are zeroed: no earlier pack's bytes are scanned again as this one's.
 */
import type { ScanRegion } from './yara-collector.js';

export interface Segment<O> {
  readonly owner: O;
  readonly region: ScanRegion;
  readonly at: number;
  /** the bytes the segment holds (0: dropped) */
  length: number;
  /** the virtual address of its first byte */
  base: number;
  /** its first byte is its region's first */
  readonly first: boolean;
  /** reserved for bytes still to come: the pack cannot be scanned yet */
  open: boolean;
}

export class YaraPack<O> {
  private buf: Buffer | undefined;
  private file: string | undefined;
  private filled = 0;
  private segments: Segment<O>[] = [];

  /** `scan` is handed the pack's bytes and its non-empty segments, in order. */
  constructor(
    private readonly size: number,
    private readonly scan: (bytes: Buffer, segments: readonly Segment<O>[]) => void,
  ) {}

  /**
   * `length` bytes of the pack for `owner`, a region of `file`: the pack is scanned first when they
   * do not fit, or is of another file. None while a segment is still open and they do not fit
   * (overlapping pages in a file, which no real dump has): the caller scans on its own.
   */
  reserve(file: string, owner: O, region: ScanRegion, length: number, base: number, first: boolean): Segment<O> | undefined {
    if (length > this.size) return undefined;
    if (this.segments.length > 0 && (this.file !== file || this.filled + length > this.size)) {
      if (this.segments.some((g) => g.open)) return undefined;
      this.flush();
    }
    this.buf ??= Buffer.allocUnsafe(this.size);
    this.file = file;
    const seg: Segment<O> = { owner, region, at: this.filled, length, base, first, open: true };
    this.segments.push(seg);
    this.filled += length;
    return seg;
  }

  /** The segment's bytes in the pack, to be filled in place. */
  bytes(seg: Segment<O>): Buffer {
    return (this.buf as Buffer).subarray(seg.at, seg.at + seg.length);
  }

  /** The segment holds its first `filled` bytes, and no more will come. */
  close(seg: Segment<O>, filled: number): void {
    if (!seg.open) return;
    seg.open = false;
    this.buf?.fill(0, seg.at + filled, seg.at + seg.length);
    seg.length = filled;
  }

  /** Scans what the pack holds and empties it; a segment still open is dropped (its stretch never ended). */
  flush(): void {
    const segments = this.segments;
    this.segments = [];
    const filled = this.filled;
    this.filled = 0;
    if (!this.buf || segments.length === 0) return;
    for (const g of segments) if (g.open) this.close(g, 0);
    const held = segments.filter((g) => g.length > 0);
    if (held.length > 0) this.scan(this.buf.subarray(0, filled), held);
  }

  /** Forgets what the pack holds of `file`, unscanned. */
  drop(file: string): void {
    if (this.file !== file) return;
    this.segments = [];
    this.filled = 0;
  }
}
