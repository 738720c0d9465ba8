/**
 * The part of a YARA scan that memory and files share: one scanner, the time budget of each region,
 * and the rule hits kept. A region is one unit of what is scanned (a process's VMA, a file); each
 * rule is reported once per region, at its first match, so that a string repeated over a heap is
 * one indicator and not thousands.
 */
import { printable } from '../memory-search.js';
import type { YaraRuleHit, YaraScanner } from './yara-rules.js';

export interface ScanRegion {
  /** for warnings: `pid 7 0x401000-0x585000`, `/tmp/.x/dropper` */
  readonly label: string;
  /** rules already reported in this region (`namespace:rule`) */
  readonly reported: Set<string>;
  /** wall time the rules have run on this region so far */
  elapsedMs: number;
  /** the rules ran past the budget (or the engine gave up): the rest of the region is not scanned */
  timedOut: boolean;
  /** the time-out was reported */
  noted: boolean;
}

/** The most of a match itself the context shows. */
const MAX_SHOWN = 64;

export const newRegion = (label: string): ScanRegion => ({ label, reported: new Set(), elapsedMs: 0, timedOut: false, noted: false });

/** A hit the collector kept: the rule, and the match it is reported at (offsets in the buffer scanned). */
export interface KeptHit {
  readonly hit: YaraRuleHit;
  readonly offset: number;
  readonly pattern?: string;
  readonly context: string;
}

export interface CollectorOptions {
  /** wall time the rules may run on one region, over all its windows (default 10 s) */
  budgetMs?: number;
  /** bytes of context either side of a match (default 32) */
  contextBytes?: number;
  /** the clock the budget is measured with (tests hand in their own) */
  now?: () => number;
}

/** Which matches of a buffer this scan decides: those starting in [from, cutoff), or (a seam) those crossing `crossing`. */
export type Decides = { from: number; cutoff: number; first: boolean } | { crossing: number };

export class YaraCollector {
  readonly budgetMs: number;
  private readonly context: number;
  private readonly now: () => number;

  constructor(
    private readonly scanner: YaraScanner,
    opts: CollectorOptions = {},
  ) {
    this.budgetMs = Math.max(1, opts.budgetMs ?? 10_000);
    this.context = Math.max(0, Math.floor(opts.contextBytes ?? 32));
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * Scans `buf` for `region` and returns the hits it decides that the region has not reported yet.
   * A rule without pattern matches (a condition on other facts) is decided by a region's first window.
   * Nothing is scanned once the region timed out; a scan that ends past the budget marks it so.
   */
  scan(region: ScanRegion, buf: Uint8Array, decides: Decides): KeptHit[] {
    if (region.timedOut || buf.length === 0) return [];
    const started = this.now();
    const result = this.scanner.scan(buf);
    region.elapsedMs += this.now() - started;
    if (result.timedOut || region.elapsedMs > this.budgetMs) region.timedOut = true;
    const kept: KeptHit[] = [];
    for (const hit of result.hits) {
      const key = `${hit.namespace}:${hit.rule}`;
      if (region.reported.has(key)) continue;
      const m =
        'crossing' in decides
          ? hit.matches.find((x) => x.offset < decides.crossing && x.offset + x.length > decides.crossing)
          : hit.matches.find((x) => x.offset >= decides.from && x.offset < decides.cutoff);
      if (!m && (hit.matches.length > 0 || 'crossing' in decides || !decides.first)) continue;
      region.reported.add(key);
      kept.push(this.keptAt(hit, m, buf, 0, buf.length));
    }
    return kept;
  }

  /**
   * Scans the regions `segments` hold, packed one after another in `buf`, with one call: the engine
   * costs 7–15 ms per call whatever the size (docs/benchmarks.md), and a process has many small
   * regions. A rule's condition then sees the whole pack, as `yara` sees a process's memory; its
   * hit is kept for each region that holds one of its matches whole (a match that runs from one
   * region into the next is not in memory, and is dropped). A rule without pattern matches is the
   * first region's when that is its first window. The time is shared out by size. Returns the
   * hits per segment, in order, offsets in the segment.
   */
  scanPacked(buf: Uint8Array, segments: readonly { region: ScanRegion; at: number; length: number; first: boolean }[]): KeptHit[][] {
    const out: KeptHit[][] = segments.map(() => []);
    if (buf.length === 0 || segments.every((s) => s.region.timedOut)) return out;
    const started = this.now();
    const result = this.scanner.scan(buf);
    const elapsed = this.now() - started;
    for (const seg of segments) {
      seg.region.elapsedMs += (elapsed * seg.length) / buf.length;
      if (result.timedOut || seg.region.elapsedMs > this.budgetMs) seg.region.timedOut = true;
    }
    for (const hit of result.hits) {
      const key = `${hit.namespace}:${hit.rule}`;
      segments.forEach((seg, i) => {
        if (seg.region.reported.has(key)) return;
        const end = seg.at + seg.length;
        const m = hit.matches.find((x) => x.offset >= seg.at && x.offset + x.length <= end);
        if (!m && (hit.matches.length > 0 || i > 0 || !seg.first)) return;
        seg.region.reported.add(key);
        const kept = this.keptAt(hit, m, buf, seg.at, end);
        out[i]?.push({ ...kept, offset: kept.offset - seg.at });
      });
    }
    return out;
  }

  /** The hit at match `m` (or at `from`, for a rule without one), its context taken from `buf[from, to)` only. */
  private keptAt(hit: YaraRuleHit, m: YaraRuleHit['matches'][number] | undefined, buf: Uint8Array, from: number, to: number): KeptHit {
    const at = m?.offset ?? from;
    // a long match shows its start: the context is for a reader, not a copy of the match
    const end = m ? m.offset + Math.min(m.length, MAX_SHOWN) : from;
    const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const context = printable(bytes.subarray(Math.max(from, at - this.context), Math.min(to, end + this.context)));
    return { hit, offset: at, context, ...(m && { pattern: m.pattern }) };
  }
}
