/**
 * YARA over a checkpoint's memory, streamed: every process's VMAs, read through its pagemap as the
 * pages files stream past (a PagesConsumer, like MemorySearch), never holding a pages file.
 *
 * The unit is a region: the present, virtually contiguous pages of one VMA (a VMA with a hole in
 * its pagemap is two regions). The bytes of a region are read into one window at a time
 * (`windowBytes`, default 16 MiB); a full window is scanned, its last `overlapBytes` (64 KiB) move to
 * the front and the next bytes follow, so a match up to the overlap long is found whole wherever
 * the windows cut, and each match start is decided by exactly one window (the ones starting in
 * the overlap are left to the next). Memory is one window per region being read — one, since
 * CRIU writes a process's pages in address order — whatever the size of the dump.
 *
 * A region's pages are in its pages file in address order in every dump CRIU writes, but nothing
 * in the format promises it (a pagemap may list its entries in another order). Each stretch of a
 * region that is contiguous in the file is therefore windowed on its own, and where two stretches
 * meet in virtual memory (a seam) the last and first `seamBytes` (16 KiB) either side are kept
 * until both have streamed past, then scanned together for matches that cross the seam. Seams
 * are rare (none in the engines' archives) and bounded (MAX_SEAMS of them are kept).
 *
 * YARA's view of each window is a buffer of its own: `filesize`, `uint32(0)` and offsets in a
 * condition are the window's, which starts at the region's first byte or `windowBytes -
 * overlapBytes` after the previous window; a condition over two strings further apart than a
 * window is not seen. A rule is reported once per region, at its first match.
 *
 * Packing: YARA-X costs 7–15 ms per scan whatever its size, and a process has many small regions
 * (a heap split by untouched pages, libraries' data). So a region's last window, when it is at most
 * half a window, is not scanned alone: it waits in a pack with the others of the same pages file
 * (one process), and the pack is scanned in one call when the next would not fit or the file ends
 * (YaraCollector.scanPacked: a condition sees the pack, as `yara` sees a process's memory; a match
 * is its region's only when it lies wholly inside it; yara-pack.ts). A stretch that fits in half a
 * window is read straight into its place in the pack, the others' last windows are copied there;
 * window buffers are reused. Memory: one more window.
 *
 * Layouts: the regions are planned from the pagemaps and mm images that came before the first pages
 * file (inspect-checkpoint.ts). When the final images say otherwise (a pagemap after its pages),
 * `relayout` drops what those files gave and they are scanned again in the second read; no match
 * was handed out before the end, so none needs keeping.
 *
 * Time: the rules may run `budgetMs` on one region (YARA-X's WASM build cannot stop a scan
 * midway, so the budget is checked between windows: a window is the most it overruns by). A
 * region past its budget is reported in `incomplete`, the rest of it is skipped, and the scan goes on.
 */
import type { AnalysisWarning, CriuProcess, Vma } from '../criu/criu-model.js';
import { mapRange, pagesFileName, sortedRuns, PAGE_SIZE, type PagesConsumer } from '../criu/process-memory.js';
import { YaraCollector, newRegion, type CollectorOptions, type KeptHit, type ScanRegion } from './yara-collector.js';
import { mappingOf, type YaraIncomplete, type YaraMatch } from './yara-findings.js';
import { YaraPack, type Segment } from './yara-pack.js';
import type { YaraScanner } from './yara-rules.js';

export interface YaraMemoryOptions extends CollectorOptions {
  /** bytes scanned at a time (default 16 MiB: YARA-X pays 7–15 ms for every scan, whatever its size; docs/benchmarks.md) */
  windowBytes?: number;
  /** bytes two windows share: the longest match found across a window boundary (default 64 KiB) */
  overlapBytes?: number;
  /** bytes kept either side of a seam (default 16 KiB) */
  seamBytes?: number;
  /** stop after this many matches, with a warning (default 1000) */
  maxMatches?: number;
  /** the folder the pages files are in, for warnings (default `checkpoint`) */
  dir?: string;
}

/** Seams kept at once at most: 2 × seamBytes each. */
export const MAX_SEAMS = 1024;
/** Stretches read at once at most (overlapping pages in a file, which no real dump has): a window each. */
const MAX_ACTIVE = 16;

interface Region extends ScanRegion {
  pid: number;
  vma: Vma | undefined;
  file: string;
  stretches: Stretch[];
}

interface Seam {
  /** the virtual address where the two stretches meet */
  at: number;
  tail: Buffer;
  head: Buffer;
  tailFilled: number;
  headFilled: number;
}

interface Stretch {
  region: Region;
  vaddr: number;
  fileOffset: number;
  length: number;
  received: number;
  before?: Seam;
  after?: Seam;
  window?: Window;
}

interface Window {
  buf: Buffer;
  filled: number;
  base: number;
  first: boolean;
  /** the reused buffer `buf` is the start of; none when `buf` is the stretch's segment of the pack */
  own?: Buffer;
  /** the pack segment `buf` is */
  seg?: Segment<Stretch>;
}

interface Found {
  file: string;
  pid: number;
  vaddr: number;
  vma: Vma | undefined;
  kept: KeptHit;
}

const hex = (n: number) => `0x${n.toString(16)}`;

export class YaraMemoryScan implements PagesConsumer {
  private readonly plans = new Map<string, { stretches: Stretch[]; next: number; active: Stretch[] }>();
  private readonly found: Found[] = [];
  private readonly incompleteBy = new Map<string, YaraIncomplete[]>();
  private readonly warningsBy = new Map<string, AnalysisWarning[]>();
  private readonly ended = new Set<string>();
  private readonly collector: YaraCollector;
  private readonly window: number;
  private readonly overlap: number;
  private readonly seamBytes: number;
  private readonly max: number;
  private readonly dir: string;
  private seams = 0;
  private limitWarning: AnalysisWarning | undefined;
  /** Small regions of one pages file, waiting to be scanned together. */
  private readonly pack: YaraPack<Stretch>;
  /** window buffers of finished stretches, for the next (one, in every dump CRIU writes) */
  private readonly spares: Buffer[] = [];

  constructor(processes: readonly CriuProcess[], scanner: YaraScanner, opts: YaraMemoryOptions = {}) {
    this.collector = new YaraCollector(scanner, opts);
    this.overlap = Math.max(0, Math.floor(opts.overlapBytes ?? 64 * 1024));
    this.window = Math.max(this.overlap + 1, Math.floor(opts.windowBytes ?? 16 * 1024 * 1024));
    this.seamBytes = Math.max(1, Math.floor(opts.seamBytes ?? 16 * 1024));
    this.max = Math.max(1, Math.floor(opts.maxMatches ?? 1000));
    this.dir = opts.dir ?? 'checkpoint';
    this.pack = new YaraPack(this.window, (bytes, segments) => {
      if (this.limitWarning) return;
      const hits = this.collector.scanPacked(bytes, segments);
      segments.forEach((g, i) => this.keep(g.owner, hits[i] ?? [], g.base));
    });
    this.plan(processes);
  }

  /** Takes these layouts for `files`, which are scanned again when fed again; what those files gave before is dropped. */
  relayout(processes: readonly CriuProcess[], files: Iterable<string>): void {
    const redo = new Set(files);
    for (const f of redo) {
      this.pack.drop(f);
      this.plans.delete(f);
      this.ended.delete(f);
      this.incompleteBy.delete(f);
      this.warningsBy.delete(f);
    }
    for (let i = this.found.length - 1; i >= 0; i--) if (redo.has((this.found[i] as Found).file)) this.found.splice(i, 1);
    this.plan(processes, redo);
  }

  private plan(processes: readonly CriuProcess[], only?: ReadonlySet<string>): void {
    const byFile = new Map<string, Stretch[]>();
    for (const p of processes) {
      if (!p.pagemap) continue;
      const file = pagesFileName(p.pagemap.pagesId);
      if (only && !only.has(file)) continue;
      const runs = sortedRuns(p.pagemap.runs);
      // Without an mm image there are no VMAs: the pagemap's own runs are the regions.
      const areas: { start: number; end: number; vma?: Vma }[] =
        p.mm && p.mm.vmas.length > 0
          ? p.mm.vmas.filter((v) => v.end > v.start).map((v) => ({ start: v.start, end: v.end, vma: v }))
          : runs.map((r) => ({ start: r.vaddr, end: r.vaddr + r.nrPages * PAGE_SIZE }));
      const list = byFile.get(file) ?? [];
      for (const area of areas) {
        let region: Region | undefined;
        for (const piece of mapRange(runs, area.start, area.end)) {
          if ('missing' in piece) {
            region = undefined; // a hole ends the region
            continue;
          }
          region ??= { ...newRegion(`pid ${p.pid} ${hex(piece.vaddr)}-${hex(area.end)}`), pid: p.pid, vma: area.vma, file, stretches: [] };
          const s: Stretch = { region, vaddr: piece.vaddr, fileOffset: piece.fileOffset, length: piece.length, received: 0 };
          const prev = region.stretches[region.stretches.length - 1];
          if (prev) this.join(prev, s);
          region.stretches.push(s);
          list.push(s);
        }
      }
      byFile.set(file, list);
    }
    for (const [file, list] of byFile) this.plans.set(file, { stretches: list.sort((a, b) => a.fileOffset - b.fileOffset), next: 0, active: [] });
  }

  /** Two stretches of one region that meet in memory but not in the file: keep their edges. */
  private join(prev: Stretch, next: Stretch): void {
    if (this.seams >= MAX_SEAMS) {
      this.warn(
        prev.region.file,
        `more than ${MAX_SEAMS} places where memory is out of order in the file; matches across ${hex(next.vaddr)} are not looked for`,
      );
      return;
    }
    this.seams++;
    const seam: Seam = {
      at: next.vaddr,
      tail: Buffer.allocUnsafe(Math.min(this.seamBytes, prev.length)),
      head: Buffer.allocUnsafe(Math.min(this.seamBytes, next.length)),
      tailFilled: 0,
      headFilled: 0,
    };
    prev.after = seam;
    next.before = seam;
  }

  wants(file: string): boolean {
    return this.limitWarning === undefined && this.plans.has(file) && !this.ended.has(file);
  }

  feed(file: string, offset: number, chunk: Buffer): void {
    const plan = this.plans.get(file);
    if (!plan || !this.wants(file)) return;
    const end = offset + chunk.length;
    while (plan.next < plan.stretches.length && (plan.stretches[plan.next] as Stretch).fileOffset < end) {
      const s = plan.stretches[plan.next++] as Stretch;
      if (plan.active.length >= MAX_ACTIVE) this.warn(file, `pid ${s.region.pid}: pages at ${hex(s.vaddr)} overlap others in the file; not scanned`);
      else plan.active.push(s);
    }
    for (const s of [...plan.active]) {
      const from = Math.max(offset, s.fileOffset + s.received);
      const to = Math.min(end, s.fileOffset + s.length);
      if (from < to) this.take(s, chunk.subarray(from - offset, to - offset));
      if (s.received === s.length) {
        plan.active.splice(plan.active.indexOf(s), 1);
        this.finish(s);
      }
      if (this.limitWarning) return;
    }
  }

  end(file: string, size: number): void {
    this.ended.add(file);
    const plan = this.plans.get(file);
    if (!plan) return;
    const short = [...plan.active, ...plan.stretches.slice(plan.next)];
    for (const s of plan.active) this.finish(s); // what did come is scanned
    this.pack.flush();
    if (short.length > 0 && !this.limitWarning) {
      const s = short[0] as Stretch;
      this.warn(
        file,
        `ends at ${size} bytes, before pid ${s.region.pid}'s pages at ${hex(s.vaddr + s.received)}: the rest of its memory was not scanned`,
        size,
      );
    }
    this.plans.delete(file);
  }

  /** The matches (with their mappings, named through `pathOf`: the dump's files table), what was not scanned whole, and warnings. */
  result(pathOf: (id: number) => string | undefined): { matches: YaraMatch[]; incomplete: YaraIncomplete[]; warnings: AnalysisWarning[] } {
    this.pack.flush();
    const matches = this.found.map(({ pid, vaddr, vma, kept }) => ({
      rule: kept.hit.rule,
      namespace: kept.hit.namespace,
      tags: [...kept.hit.tags],
      meta: { ...kept.hit.meta },
      ...(kept.pattern !== undefined && { pattern: kept.pattern }),
      where: { in: 'memory' as const, pid, address: hex(vaddr), mapping: mappingOf(vma, pathOf) },
      context: kept.context,
    }));
    const warnings = [...this.warningsBy.values()].flat();
    return { matches, incomplete: [...this.incompleteBy.values()].flat(), warnings: this.limitWarning ? [...warnings, this.limitWarning] : warnings };
  }

  private warn(file: string, message: string, offset?: number): void {
    const list = this.warningsBy.get(file) ?? [];
    list.push({ file: `${this.dir}/${file}`, message, ...(offset !== undefined && { offset }) });
    this.warningsBy.set(file, list);
  }

  /** Bytes of a stretch, in order: into its window (scanned when full) and into the seams at its edges. */
  private take(s: Stretch, bytes: Buffer): void {
    const at = s.received;
    s.received += bytes.length;
    if (s.before && s.before.headFilled < s.before.head.length) {
      const n = Math.min(bytes.length, s.before.head.length - at);
      if (n > 0) s.before.headFilled += bytes.copy(s.before.head, at, 0, n);
    }
    if (s.after) {
      const tailStart = s.length - s.after.tail.length;
      const from = Math.max(at, tailStart);
      if (from < s.received) s.after.tailFilled += bytes.copy(s.after.tail, from - tailStart, from - at);
    }
    if (s.region.timedOut) return;
    const w = (s.window ??= this.open(s));
    let i = 0;
    while (i < bytes.length && !s.region.timedOut) {
      const n = Math.min(bytes.length - i, w.buf.length - w.filled);
      bytes.copy(w.buf, w.filled, i, i + n);
      w.filled += n;
      i += n;
      if (w.filled === w.buf.length && (i < bytes.length || s.received < s.length)) {
        // full, and more to come: decide the starts before the overlap, carry the overlap
        const cutoff = w.filled - this.overlap;
        this.keep(s, this.collector.scan(s.region, w.buf.subarray(0, w.filled), { from: 0, cutoff, first: w.first }), w.base);
        w.buf.copy(w.buf, 0, cutoff, w.filled);
        w.base += cutoff;
        w.filled -= cutoff;
        w.first = false;
      }
    }
  }

  /** A window for the stretch: its segment of the pack when it fits in half a window, else a reused buffer. */
  private open(s: Stretch): Window {
    const first = s === s.region.stretches[0];
    const seg = s.length <= this.window / 2 ? this.pack.reserve(s.region.file, s, s.region, s.length, s.vaddr, first) : undefined;
    if (seg) return { buf: this.pack.bytes(seg), filled: 0, base: s.vaddr, first, seg };
    const own = this.spares.pop() ?? Buffer.allocUnsafe(this.window);
    return { buf: own.subarray(0, Math.min(this.window, s.length)), filled: 0, base: s.vaddr, first, own };
  }

  private finish(s: Stretch): void {
    const w = s.window;
    if (w?.seg) {
      this.pack.close(w.seg, s.region.timedOut ? 0 : w.filled); // read in place: only the flush is left
    } else if (w && !s.region.timedOut && w.filled > 0) {
      // a last window of at most half the window size waits to be scanned with others of this file
      if (w.filled <= this.window / 2) this.addToPack(s, w);
      else this.keep(s, this.collector.scan(s.region, w.buf.subarray(0, w.filled), { from: 0, cutoff: w.filled, first: w.first }), w.base);
    }
    if (w?.own && this.spares.length < 2) this.spares.push(w.own);
    delete s.window;
    for (const seam of [s.before, s.after]) {
      if (!seam || seam.tailFilled < seam.tail.length || seam.headFilled < seam.head.length) continue;
      const joined = Buffer.concat([seam.tail, seam.head]);
      this.keep(s, this.collector.scan(s.region, joined, { crossing: seam.tail.length }), seam.at - seam.tail.length);
      seam.tailFilled = -1; // scanned once
      this.seams--;
    }
  }

  private addToPack(s: Stretch, w: Window): void {
    const seg = this.pack.reserve(s.region.file, s, s.region, w.filled, w.base, w.first);
    if (!seg) {
      this.keep(s, this.collector.scan(s.region, w.buf.subarray(0, w.filled), { from: 0, cutoff: w.filled, first: w.first }), w.base);
      return;
    }
    w.buf.copy(this.pack.bytes(seg), 0, 0, w.filled);
    this.pack.close(seg, w.filled);
  }

  private keep(s: Stretch, hits: readonly KeptHit[], base: number): void {
    const r = s.region;
    if (r.timedOut && !r.noted) {
      r.noted = true;
      const list = this.incompleteBy.get(r.file) ?? [];
      list.push({
        where: r.label,
        reason: `the rules ran ${Math.round(r.elapsedMs)} ms on it (budget ${this.collector.budgetMs} ms); the rest of it was not scanned`,
      });
      this.incompleteBy.set(r.file, list);
    }
    for (const kept of hits) {
      if (this.found.length >= this.max) {
        this.limitWarning ??= {
          file: `${this.dir}/${r.file}`,
          message: `more than ${this.max} YARA matches in memory; only the first ${this.max} are reported`,
        };
        return;
      }
      this.found.push({ file: r.file, pid: r.pid, vaddr: base + kept.offset, vma: r.vma, kept });
    }
  }
}
