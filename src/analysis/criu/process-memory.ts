/**
 * A dumped process's memory, read through its pagemap without ever holding a pages file.
 *
 * CRIU writes the present pages of a process back to back into `pages-<pages_id>.img`, in
 * pagemap order; a run's `offset` says where its first page starts in that file. Pages a run marks
 * as kept in a parent dump (pre-dump / incremental) or as lazy-only are not in the file. Anything
 * between runs was never dumped (untouched memory). So a virtual range is a list of pieces, each
 * either somewhere in the pages file or absent for a stated reason — never guessed.
 */
import type { AnalysisWarning, CriuProcess, PageRun } from './criu-model.js';
import { pagemapEntryPages, type MmEntry, type PagemapEntry } from './criu-messages.js';
import { mmInfo, pageRunOf } from './read-criu-dump.js';
import { decodeImage } from './decode-criu-image.js';
import { safeNumber, type U64 } from './proto-reader.js';

/** CRIU's page size on x86_64 and on the common aarch64 kernels (the sample dump is 4 KiB pages). */
export const PAGE_SIZE = 4096;

/**
 * argv and the environment are bounded by the kernel (a quarter of the stack rlimit, and at most
 * 32 pages per string); mm bounds beyond this are damage, not a command line.
 */
export const MAX_ARG_AREA = 4 * 1024 * 1024;

export const pagesFileName = (pagesId: number): string => `pages-${pagesId}.img`;

/** Why bytes of a range are not in the pages file. */
export type Absence = 'hole' | 'parent' | 'lazy';

export type RangePiece = { vaddr: number; length: number; fileOffset: number } | { vaddr: number; length: number; missing: Absence };

/**
 * Whether a run's pages are stored in its pages file. The reader says so in `inFile` (a lazy run
 * is there when it is also present, `PE_LAZY | PE_PRESENT`, as in the real aarch64 sample); a
 * hand-built run without it counts as present unless it lives in the parent dump.
 */
export function runInFile(run: PageRun): boolean {
  return run.inFile ?? !run.inParent;
}

function absence(run: PageRun): Absence {
  return run.inParent ? 'parent' : 'lazy';
}

/** The runs sorted by address (a damaged pagemap may list them in any order). */
export function sortedRuns(runs: readonly PageRun[]): PageRun[] {
  return [...runs].sort((a, b) => a.vaddr - b.vaddr);
}

/** Splits the virtual range [start, end) into pieces found in the pages file and pieces that are absent. */
export function mapRange(sorted: readonly PageRun[], start: number, end: number): RangePiece[] {
  const out: RangePiece[] = [];
  const push = (p: RangePiece) => {
    const last = out[out.length - 1];
    // Adjacent pieces that continue each other (in the file, or in one absence) read as one.
    if (last && 'fileOffset' in last && 'fileOffset' in p && last.fileOffset + last.length === p.fileOffset) last.length += p.length;
    else if (last && 'missing' in last && 'missing' in p && last.missing === p.missing) last.length += p.length;
    else out.push(p);
  };
  let pos = start;
  let i = firstRunEndingAfter(sorted, pos);
  while (pos < end) {
    const run = sorted[i];
    if (!run || run.vaddr >= end) {
      push({ vaddr: pos, length: end - pos, missing: 'hole' });
      break;
    }
    const runEnd = run.vaddr + run.nrPages * PAGE_SIZE;
    if (runEnd <= pos) {
      i++;
      continue;
    }
    if (run.vaddr > pos) {
      push({ vaddr: pos, length: run.vaddr - pos, missing: 'hole' });
      pos = run.vaddr;
      continue;
    }
    const to = Math.min(end, runEnd);
    if (runInFile(run)) push({ vaddr: pos, length: to - pos, fileOffset: run.offset + (pos - run.vaddr) });
    else push({ vaddr: pos, length: to - pos, missing: absence(run) });
    pos = to;
    i++;
  }
  return out;
}

function firstRunEndingAfter(sorted: readonly PageRun[], addr: number): number {
  let lo = 0,
    hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = sorted[mid] as PageRun;
    if (r.vaddr + r.nrPages * PAGE_SIZE <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where one virtual address of a process lives: its pages file and the byte offset in it. */
export function locateAddress(p: CriuProcess, vaddr: number): { file: string; offset: number } | { missing: Absence } {
  if (!p.pagemap) return { missing: 'hole' };
  const [piece] = mapRange(sortedRuns(p.pagemap.runs), vaddr, vaddr + 1);
  if (!piece || 'missing' in piece) return { missing: piece?.missing ?? 'hole' };
  return { file: pagesFileName(p.pagemap.pagesId), offset: piece.fileOffset };
}

/**
 * Something that reads pages files as they stream past. The caller feeds each wanted file's bytes
 * in order (`offset` is the position of `chunk` in the file), then calls `end` with the file's size.
 */
export interface PagesConsumer {
  wants(file: string): boolean;
  feed(file: string, offset: number, chunk: Buffer): void;
  end(file: string, size: number): void;
}

export interface ProcessStrings {
  argv: string[];
  env: string[];
}

interface Wanted {
  pid: number;
  what: 'argv' | 'environment';
  start: number;
  buf: Buffer;
  /** pieces of buf still to fill from the pages file: [bufOffset, fileOffset, length, filled] */
  pieces: { at: number; fileOffset: number; length: number; filled: number }[];
  file: string;
  /** bytes of buf that are known good, from the start (before the first absent piece) */
  readable: number;
  truncated: boolean;
}

/**
 * Reads every process's argv (`mm.argStart..argEnd`) and environment (`envStart..envEnd`) out of
 * the pages files as they stream past: the wanted byte ranges are planned up front from the
 * pagemaps and filled as chunks go by. Bytes that are not in the dump make the result partial
 * (only whole strings before the gap are kept) and leave a warning; nothing is ever guessed.
 */
export class ArgvEnvReader implements PagesConsumer {
  private readonly wanted: Wanted[] = [];
  private readonly byFile = new Map<string, Wanted[]>();
  private readonly warnings: AnalysisWarning[] = [];
  private readonly ended = new Set<string>();

  constructor(
    processes: readonly CriuProcess[],
    private readonly dir = 'checkpoint',
  ) {
    for (const p of processes) {
      // Without a pagemap the full reader already says the memory cannot be read.
      if (!p.mm || !p.pagemap) continue;
      const runs = sortedRuns(p.pagemap.runs);
      const file = pagesFileName(p.pagemap.pagesId);
      this.plan(p.pid, 'argv', p.mm.argStart, p.mm.argEnd, runs, file);
      this.plan(p.pid, 'environment', p.mm.envStart, p.mm.envEnd, runs, file);
    }
  }

  private warn(file: string, message: string, offset?: number): void {
    this.warnings.push({ file: `${this.dir}/${file}`, ...(offset === undefined ? {} : { offset }), message });
  }

  private plan(pid: number, what: Wanted['what'], start: number, end: number, runs: readonly PageRun[], file: string): void {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end)) || end < start) {
      this.warn(`mm-${pid}.img`, `pid ${pid}: ${what} bounds 0x${start.toString(16)}..0x${end.toString(16)} are not a range`);
      return;
    }
    let truncated = false;
    if (end - start > MAX_ARG_AREA) {
      this.warn(`mm-${pid}.img`, `pid ${pid}: ${what} spans ${end - start} bytes; only the first ${MAX_ARG_AREA} are read`);
      end = start + MAX_ARG_AREA;
      truncated = true;
    }
    const w: Wanted = { pid, what, start, buf: Buffer.alloc(end - start), pieces: [], file, readable: end - start, truncated };
    for (const piece of mapRange(runs, start, end)) {
      const at = piece.vaddr - start;
      if ('missing' in piece) {
        if (at < w.readable) w.readable = at;
        const why =
          piece.missing === 'hole'
            ? 'never dumped (a hole in the pagemap)'
            : piece.missing === 'parent'
              ? 'in a parent dump, not in this one'
              : 'left for lazy restore, not in this dump';
        this.warn(
          file,
          `pid ${pid}: ${what} bytes 0x${piece.vaddr.toString(16)}..0x${(piece.vaddr + piece.length).toString(16)} are ${why}; ${what} is partial`,
        );
      } else {
        w.pieces.push({ at, fileOffset: piece.fileOffset, length: piece.length, filled: 0 });
      }
    }
    this.wanted.push(w);
    const list = this.byFile.get(file) ?? [];
    list.push(w);
    this.byFile.set(file, list);
  }

  /** The pages files this reader needs. */
  files(): string[] {
    return [...this.byFile.keys()];
  }

  wants(file: string): boolean {
    return this.byFile.has(file) && !this.ended.has(file);
  }

  feed(file: string, offset: number, chunk: Buffer): void {
    const list = this.byFile.get(file);
    if (!list) return;
    const chunkEnd = offset + chunk.length;
    for (const w of list) {
      for (const p of w.pieces) {
        const from = Math.max(p.fileOffset + p.filled, offset);
        const to = Math.min(p.fileOffset + p.length, chunkEnd);
        if (from >= to) continue;
        chunk.copy(w.buf, p.at + (from - p.fileOffset), from - offset, to - offset);
        p.filled = to - p.fileOffset;
      }
    }
  }

  end(file: string, size: number): void {
    this.ended.add(file);
    for (const w of this.byFile.get(file) ?? []) this.closeShort(w, size);
  }

  private closeShort(w: Wanted, size: number | undefined): void {
    for (const p of w.pieces) {
      if (p.filled >= p.length) continue;
      const missingAt = p.at + p.filled;
      if (missingAt < w.readable) w.readable = missingAt;
      this.warn(
        w.file,
        size === undefined
          ? `pid ${w.pid}: ${w.what} is in ${w.file}, which is not in the archive`
          : `pid ${w.pid}: ${w.file} ends at ${size} bytes, before the ${w.what} bytes at offset ${p.fileOffset + p.filled}; ${w.what} is partial`,
        size === undefined ? undefined : p.fileOffset + p.filled,
      );
      p.filled = p.length; // reported once
    }
  }

  /** argv and environment per pid, after every wanted file has ended (files that never came are reported as missing). */
  result(): { byPid: Map<number, ProcessStrings>; warnings: AnalysisWarning[] } {
    for (const [file, list] of this.byFile) if (!this.ended.has(file)) for (const w of list) this.closeShort(w, undefined);
    const byPid = new Map<number, ProcessStrings>();
    for (const w of this.wanted) {
      const s = byPid.get(w.pid) ?? { argv: [], env: [] };
      const complete = w.readable === w.buf.length && !w.truncated;
      const strings = nulStrings(w.buf.subarray(0, w.readable), complete);
      if (w.what === 'argv') s.argv = strings;
      else s.env = strings.filter((e) => e !== '');
      byPid.set(w.pid, s);
    }
    return { byPid, warnings: [...this.warnings] };
  }
}

/**
 * NUL-separated strings. When the area is complete an unterminated last string is kept (a process
 * may have rewritten its argv); when it was cut short, only NUL-terminated strings are trusted.
 * Trailing empty strings are the padding a rewritten argv leaves, not arguments.
 */
export function nulStrings(buf: Buffer, complete: boolean): string[] {
  const parts: string[] = [];
  let from = 0;
  for (let i = buf.indexOf(0); i !== -1; i = buf.indexOf(0, from)) {
    parts.push(buf.toString('utf8', from, i));
    from = i + 1;
  }
  if (complete && from < buf.length) parts.push(buf.toString('utf8', from));
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

const n64 = (v: unknown) => (typeof v === 'number' || typeof v === 'bigint' ? safeNumber(v as U64) : undefined);

/**
 * Each process's memory layout (mm bounds and VMAs, pagemap runs) from `mm-<pid>.img` and
 * `pagemap-<pid>.img` alone, before the process tree is known: in an archive's lexical order
 * `pstree.img` comes after the pages files, which have to be read as they stream past. The rules
 * are CRIU's (an old `in_parent` entry is PE_PARENT, an entry without flags is PE_PRESENT, the
 * file offset advances over present entries only). The full reader (read-criu-dump.ts) stays the
 * authority: a caller compares its layouts with these and reads the pages again if they differ.
 * Damaged images give no layout (and no warnings: the full reader reports them).
 */
export function memoryLayouts(images: ReadonlyMap<string, Buffer>): CriuProcess[] {
  const out: CriuProcess[] = [];
  for (const [name, data] of images) {
    const m = /^pagemap-(\d+)\.img$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const records = decodeImage(name, data).records;
    const pagesId = n64(records[0]?.pages_id);
    if (pagesId === undefined) continue;
    const runs: PageRun[] = [];
    let offset = 0;
    for (const r of records.slice(1) as unknown as PagemapEntry[]) {
      const vaddr = n64(r.vaddr),
        nrPages = n64(pagemapEntryPages(r));
      if (vaddr === undefined || nrPages === undefined) break;
      const { run, advance } = pageRunOf(r, vaddr, nrPages, offset);
      runs.push(run);
      offset += advance;
    }
    const proc: CriuProcess = { pid, ppid: 0, pgid: 0, sid: 0, threads: [pid], fds: [], pagemap: { pagesId, runs } };
    const mmData = images.get(`mm-${pid}.img`);
    const mm = mmData ? (decodeImage(`mm-${pid}.img`, mmData).records[0] as unknown as MmEntry | undefined) : undefined;
    if (mm) proc.mm = mmInfo(mm);
    out.push(proc);
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/**
 * What reading one pages file depends on: the layouts of the processes whose pagemap names it.
 * Two models that give the same key read that file the same way.
 */
export function layoutKey(processes: readonly CriuProcess[], file: string): string {
  return JSON.stringify(
    processes
      .filter((p) => p.pagemap && pagesFileName(p.pagemap.pagesId) === file)
      .sort((a, b) => a.pid - b.pid)
      .map((p) => [
        p.pid,
        p.mm ? [p.mm.argStart, p.mm.argEnd, p.mm.envStart, p.mm.envEnd] : null,
        p.pagemap?.runs.map((r) => [r.vaddr, r.nrPages, r.offset, runInFile(r), r.inParent, r.lazy]),
        // the YARA scan reads memory by VMA (yara/yara-memory-scan.ts)
        p.mm?.vmas.map((v) => [v.start, v.end]),
      ]),
  );
}
