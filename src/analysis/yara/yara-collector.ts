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
      const at = m?.offset ?? 0;
      // a long match shows its start: the context is for a reader, not a copy of the match
      const end = m ? m.offset + Math.min(m.length, MAX_SHOWN) : 0;
      const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      const context = printable(bytes.subarray(Math.max(0, at - this.context), Math.min(bytes.length, end + this.context)));
      kept.push({ hit, offset: at, context, ...(m && { pattern: m.pattern }) });
    }
    return kept;
  }
}
