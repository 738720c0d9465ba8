/**
 * Searches dumped memory for a literal or a /regex/, streaming over each pages file once, and
 * names every match by process and virtual address.
 *
 * Chunks are copied into one reused window (the chunk size plus a small overlap). Each window is
 * searched only for matches that start before a cutoff that leaves room for the longest match and
 * the context after it; the bytes from the cutoff on (plus the context before) move to the front
 * of the window and are searched with the next chunk. So a match that straddles a chunk boundary
 * is found exactly once, and memory stays at one window whatever the file size.
 *
 * Each match is handed to `onMatch` when it is decided, in the order `result()` lists them. A pages
 * file may be read again with other layouts (`relayout`, for a second read of the archive): a match
 * already found there (same file offset, same process) is neither kept nor handed out again.
 */
import { AmberError } from '../core/amber-error.js';
import type { AnalysisWarning, CriuProcess } from './criu/criu-model.js';
import type { MemoryMatch } from './inspection.js';
import { PAGE_SIZE, pagesFileName, runInFile, type PagesConsumer } from './criu/process-memory.js';

export type MemoryPattern = { kind: 'literal'; text: string; bytes: Buffer } | { kind: 'regex'; text: string; re: RegExp };

/** The longest regex match the search guarantees to find whole; longer ones may be cut or missed at a chunk boundary. */
export const MAX_REGEX_MATCH = 4096;
const WINDOW = 1 << 20;
/**
 * A regex runs over text (latin1), one window at a time: windows below 64 KiB make strings V8
 * keeps in its young generation. Larger ones become large or external strings, each in fresh
 * memory, and decoding them cost ten times the matching.
 */
const REGEX_WINDOW = 56 * 1024;

/**
 * `/…/flags` is a regular expression over the bytes read as latin1 (one character per byte);
 * anything else is a literal, searched as its UTF-8 bytes.
 */
export function parseMemoryPattern(text: string): MemoryPattern {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(text);
  if (m) {
    const flags = [...new Set(((m[2] ?? '') + 'g').replace(/y/g, ''))].join('');
    try {
      return { kind: 'regex', text, re: new RegExp(m[1] ?? '', flags) };
    } catch (cause) {
      throw new AmberError('SEARCH_BAD_PATTERN', { pattern: text }, { cause });
    }
  }
  if (text.length === 0) throw new AmberError('SEARCH_BAD_PATTERN', { pattern: text, reason: 'empty' });
  return { kind: 'literal', text, bytes: Buffer.from(text, 'utf8') };
}

/** Printable ASCII as is, every other byte as `.`. */
export function printable(buf: Buffer): string {
  let s = '';
  for (const b of buf) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  return s;
}

interface Segment {
  pid: number;
  start: number;
  end: number;
  vaddr: number;
}

interface FileState {
  window: Buffer;
  /** file offset of window[0] */
  base: number;
  filled: number;
  /** window index from which match starts are still undecided */
  scanFrom: number;
  /** file offset where the last reported match ended: matches do not overlap */
  reportedEnd: number;
  unmapped: number;
}

export interface MemorySearchOptions {
  /** bytes of context either side of a match (default 32) */
  contextBytes?: number;
  /** stop after this many matches, with a warning (default 1000) */
  maxMatches?: number;
  /** only this process's memory */
  pid?: number;
  /** the folder the pages files are in, for warnings (default `checkpoint`) */
  dir?: string;
  /** bytes searched at a time (default 1 MiB); small values exercise the chunk boundaries in tests */
  windowBytes?: number;
  /**
   * called with each match as it is kept (the order of `result().matches`), and the bytes matched
   * (a view valid during the call); not called once `signal` is aborted
   */
  onMatch?: (m: MemoryMatch, matched: Buffer) => void;
  /**
   * Keeps only the matches whose bytes it accepts; the others are neither counted, kept nor
   * handed out. For a broad pattern narrowed by a lookup (the indicator lists' domain names).
   */
  accept?: (matched: Buffer) => boolean;
  /** once aborted, the search wants no more bytes and hands out no more matches */
  signal?: AbortSignal;
}

export class MemorySearch implements PagesConsumer {
  private readonly segments = new Map<string, Map<number, Segment[]>>();
  private readonly states = new Map<string, FileState>();
  private readonly ended = new Set<string>();
  private readonly found: MemoryMatch[] = [];
  /** `file:offset:pid` of each match kept (at most maxMatches): a file read again does not repeat them */
  private readonly seen = new Set<string>();
  /** per pages file, so that a file read again replaces its own */
  private readonly fileWarnings = new Map<string, AnalysisWarning[]>();
  private limitWarning: AnalysisWarning | undefined;
  private readonly onMatch: ((m: MemoryMatch, matched: Buffer) => void) | undefined;
  private readonly accept: ((matched: Buffer) => boolean) | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly context: number;
  private readonly max: number;
  private readonly overlap: number;
  private readonly dir: string;
  private readonly filterPid: number | undefined;
  private readonly window: number;
  private full = false;

  constructor(
    processes: readonly CriuProcess[],
    private readonly pattern: MemoryPattern,
    opts: MemorySearchOptions = {},
  ) {
    this.context = Math.max(0, Math.floor(opts.contextBytes ?? 32));
    this.max = Math.max(1, Math.floor(opts.maxMatches ?? 1000));
    this.dir = opts.dir ?? 'checkpoint';
    this.filterPid = opts.pid;
    this.window = Math.max(1, Math.floor(opts.windowBytes ?? (pattern.kind === 'literal' ? WINDOW : REGEX_WINDOW)));
    this.overlap = pattern.kind === 'literal' ? pattern.bytes.length - 1 : MAX_REGEX_MATCH;
    this.onMatch = opts.onMatch;
    this.accept = opts.accept;
    this.signal = opts.signal;
    this.map(processes);
  }

  /**
   * Takes these processes' layouts for `files`, which are searched again when fed again (a second
   * read of the archive, once the final layouts are known). Their warnings are dropped; their
   * matches found before stay, in place, and are not reported twice.
   */
  relayout(processes: readonly CriuProcess[], files: Iterable<string>): void {
    const redo = new Set(files);
    for (const f of redo) {
      this.segments.delete(f);
      this.ended.delete(f);
      this.states.delete(f);
      this.fileWarnings.delete(f);
    }
    this.map(processes, redo);
  }

  private map(processes: readonly CriuProcess[], only?: ReadonlySet<string>): void {
    for (const p of processes) {
      if (!p.pagemap || (this.filterPid !== undefined && p.pid !== this.filterPid)) continue;
      const file = pagesFileName(p.pagemap.pagesId);
      if (only && !only.has(file)) continue;
      const byPid = this.segments.get(file) ?? new Map<number, Segment[]>();
      const list = byPid.get(p.pid) ?? [];
      for (const r of p.pagemap.runs) {
        if (runInFile(r)) list.push({ pid: p.pid, start: r.offset, end: r.offset + r.nrPages * PAGE_SIZE, vaddr: r.vaddr });
      }
      list.sort((a, b) => a.start - b.start);
      byPid.set(p.pid, list);
      this.segments.set(file, byPid);
    }
  }

  wants(file: string): boolean {
    return !this.full && this.signal?.aborted !== true && this.segments.has(file) && !this.ended.has(file);
  }

  feed(file: string, offset: number, chunk: Buffer): void {
    if (!this.wants(file)) return;
    let st = this.states.get(file);
    if (!st) {
      // Room for a window and the carry, or for a carry and a seam.
      st = {
        window: Buffer.allocUnsafe(Math.max(this.window + this.keep, 2 * this.keep)),
        base: offset,
        filled: 0,
        scanFrom: 0,
        reportedEnd: offset,
        unmapped: 0,
      };
      this.states.set(file, st);
    }
    // A literal is searched where the chunk lies when the chunk is at least a window long: only its
    // seam with the bytes before it goes through the window. Smaller chunks, and every chunk for a
    // regex (see REGEX_WINDOW), are gathered in the window.
    if (this.pattern.kind === 'literal' && st.filled + this.keep <= st.window.length && chunk.length >= Math.max(this.window, 2 * this.keep)) {
      this.scanInPlace(file, st, offset, chunk);
      return;
    }
    let at = 0;
    while (at < chunk.length && !this.full) {
      const n = Math.min(chunk.length - at, st.window.length - st.filled);
      chunk.copy(st.window, st.filled, at, at + n);
      st.filled += n;
      at += n;
      if (st.filled === st.window.length) this.scan(file, st, false);
    }
  }

  end(file: string): void {
    this.ended.add(file);
    const st = this.states.get(file);
    if (!st) return;
    if (!this.full) this.scan(file, st, true);
    if (st.unmapped > 0) {
      this.fileWarnings.set(file, [
        {
          file: `${this.dir}/${file}`,
          message: `${st.unmapped} match(es) in bytes that no pagemap describes (the file is longer than its pagemaps say); not reported`,
        },
      ]);
    }
    this.states.delete(file);
  }

  /** Matches in the order found (file order, unless a file was read again), and the warnings (a stop at maxMatches, bytes outside every pagemap). */
  result(): { matches: MemoryMatch[]; warnings: AnalysisWarning[] } {
    const warnings = [...this.fileWarnings.values()].flat();
    return { matches: [...this.found], warnings: this.limitWarning ? [...warnings, this.limitWarning] : warnings };
  }

  /** Bytes carried between windows: the longest match still undecided and context either side of it. */
  private get keep(): number {
    return this.overlap + 2 * this.context;
  }

  private scan(file: string, st: FileState, final: boolean): void {
    const cutoff = final ? st.filled : st.filled - this.overlap - this.context;
    this.search(file, st, st.window.subarray(0, st.filled), st.base, st.scanFrom, cutoff, undefined);
    if (final || this.full) return;
    // Keep what the next window needs: undecided starts from the cutoff, and the context before them.
    const keepFrom = Math.max(0, cutoff - this.context);
    st.window.copy(st.window, 0, keepFrom, st.filled);
    st.base += keepFrom;
    st.filled -= keepFrom;
    st.scanFrom = Math.max(0, cutoff - keepFrom);
  }

  private scanInPlace(file: string, st: FileState, offset: number, chunk: Buffer): void {
    // The seam: what the window holds and the chunk's first `keep` bytes decide the starts still undecided in the window.
    const carried = st.filled;
    chunk.copy(st.window, carried, 0, this.keep);
    this.search(file, st, st.window.subarray(0, carried + this.keep), st.base, st.scanFrom, carried, undefined);
    if (this.full) return;
    const cutoff = chunk.length - this.overlap - this.context;
    this.search(file, st, chunk, offset, 0, cutoff, st.window.subarray(Math.max(0, carried - this.context), carried));
    if (this.full) return;
    const keepFrom = cutoff - this.context;
    chunk.copy(st.window, 0, keepFrom);
    st.base = offset + keepFrom;
    st.filled = chunk.length - keepFrom;
    st.scanFrom = this.context;
  }

  /**
   * Reports the matches in `view` (at file offset `base`) that start in [from, cutoff) and after
   * the last reported match; `before` holds the bytes just before the view, for context.
   */
  private search(file: string, st: FileState, view: Buffer, base: number, from: number, cutoff: number, before: Buffer | undefined): void {
    from = Math.max(from, st.reportedEnd - base);
    if (cutoff <= from) return;
    const report = (start: number, end: number) => this.report(file, st, view, base, start, end, before);
    if (this.pattern.kind === 'literal') {
      const needle = this.pattern.bytes;
      for (let i = view.indexOf(needle, from); i !== -1 && i < cutoff; i = view.indexOf(needle, i + needle.length)) {
        if (!report(i, i + needle.length)) return;
      }
      return;
    }
    const re = this.pattern.re;
    const text = view.toString('latin1');
    re.lastIndex = from;
    for (let m = re.exec(text); m !== null && m.index < cutoff; m = re.exec(text)) {
      const len = m[0].length;
      if (len === 0) {
        re.lastIndex = m.index + 1;
        continue;
      }
      if (!report(m.index, m.index + len)) return;
    }
  }

  /** false once the search is full */
  private report(file: string, st: FileState, view: Buffer, base: number, start: number, end: number, before: Buffer | undefined): boolean {
    st.reportedEnd = base + end;
    if (this.accept && !this.accept(view.subarray(start, end))) return true;
    const owners = this.owners(file, base + start);
    if (owners.length === 0) {
      if (this.filterPid === undefined) st.unmapped++;
      return true;
    }
    const after = view.subarray(Math.max(0, start - this.context), Math.min(view.length, end + this.context));
    const lacking = this.context - start;
    const ctx = printable(lacking > 0 && before ? Buffer.concat([before.subarray(Math.max(0, before.length - lacking)), after]) : after);
    for (const o of owners) {
      const key = `${file}:${base + start}:${o.pid}`;
      if (this.seen.has(key)) continue;
      if (this.found.length === this.max) {
        this.full = true;
        this.limitWarning = {
          file: `${this.dir}/${file}`,
          offset: base + start,
          message: `more than ${this.max} matches for ${this.pattern.text}; only the first ${this.max} are reported`,
        };
        return false;
      }
      const m: MemoryMatch = { pid: o.pid, address: `0x${o.vaddr.toString(16)}`, context: ctx };
      this.seen.add(key);
      this.found.push(m);
      if (this.signal?.aborted !== true) this.onMatch?.(m, view.subarray(start, end));
    }
    return true;
  }

  /** Every process whose pages hold this file offset, with the virtual address there. */
  private owners(file: string, offset: number): { pid: number; vaddr: number }[] {
    const out: { pid: number; vaddr: number }[] = [];
    for (const list of this.segments.get(file)?.values() ?? []) {
      let lo = 0,
        hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((list[mid] as Segment).end <= offset) lo = mid + 1;
        else hi = mid;
      }
      const s = list[lo];
      if (s && s.start <= offset) out.push({ pid: s.pid, vaddr: s.vaddr + (offset - s.start) });
    }
    return out;
  }
}
