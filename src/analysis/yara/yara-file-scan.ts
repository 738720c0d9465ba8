/**
 * YARA over the files a container added or changed (`rootfs-diff.tar`), as they stream past.
 *
 * A file is scanned whole, as one buffer, so that a rule sees it as YARA on disk would: `filesize`,
 * `uint32(0) == 0x464c457f`, offsets and modules mean what they say. That costs the file's size in
 * memory, so it is bounded: a file up to `maxFileBytes` (default 32 MiB, larger than the usual
 * dropped tool or miner binary) is scanned whole; of a larger one only its first `maxFileBytes`
 * are, with a warning. One file is held at a time.
 */
import type { AnalysisWarning } from '../criu/criu-model.js';
import { YaraCollector, newRegion, type CollectorOptions } from './yara-collector.js';
import type { YaraIncomplete, YaraMatch } from './yara-findings.js';
import type { YaraScanner } from './yara-rules.js';

export const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024;

export interface YaraFileOptions extends CollectorOptions {
  maxFileBytes?: number;
  /** stop after this many matches, with a warning (default 1000) */
  maxMatches?: number;
  /** the member the files come from, for warnings (default `rootfs-diff.tar`) */
  member?: string;
}

/** Receives one file's bytes in order, then `end()`. */
export interface FileSink {
  write(chunk: Buffer): void;
  end(): void;
}

export class YaraFileScan {
  private readonly collector: YaraCollector;
  private readonly maxBytes: number;
  private readonly max: number;
  private readonly member: string;
  private readonly matches: YaraMatch[] = [];
  private readonly incomplete: YaraIncomplete[] = [];
  private readonly warnings: AnalysisWarning[] = [];
  private full = false;

  constructor(scanner: YaraScanner, opts: YaraFileOptions = {}) {
    this.collector = new YaraCollector(scanner, opts);
    this.maxBytes = Math.max(1, Math.floor(opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES));
    this.max = Math.max(1, Math.floor(opts.maxMatches ?? 1000));
    this.member = opts.member ?? 'rootfs-diff.tar';
  }

  /** A sink for the regular file at `path` of `size` bytes (its tar header's size). */
  file(path: string, size: number): FileSink {
    const buf = Buffer.allocUnsafe(Math.min(size, this.maxBytes));
    let filled = 0;
    let seen = 0;
    return {
      write: (chunk) => {
        seen += chunk.length;
        if (filled < buf.length) filled += chunk.copy(buf, filled, 0, Math.min(chunk.length, buf.length - filled));
      },
      end: () => this.scan(path, buf.subarray(0, filled), seen),
    };
  }

  private scan(path: string, data: Buffer, size: number): void {
    if (this.full) return;
    if (size > data.length) {
      this.warnings.push({ file: this.member, message: `${path}: ${size} bytes; only its first ${data.length} were scanned with the YARA rules` });
    }
    const region = newRegion(path);
    const kept = this.collector.scan(region, data, { from: 0, cutoff: data.length, first: true });
    if (region.timedOut) {
      this.incomplete.push({
        where: path,
        reason: `the rules ran ${Math.round(region.elapsedMs)} ms on it (budget ${this.collector.budgetMs} ms); matches may be missing`,
      });
    }
    for (const k of kept) {
      if (this.matches.length >= this.max) {
        this.full = true;
        this.warnings.push({ file: this.member, message: `more than ${this.max} YARA matches in files; only the first ${this.max} are reported` });
        return;
      }
      this.matches.push({
        rule: k.hit.rule,
        namespace: k.hit.namespace,
        tags: [...k.hit.tags],
        meta: { ...k.hit.meta },
        ...(k.pattern !== undefined && { pattern: k.pattern }),
        where: { in: 'file', path, offset: k.offset },
        context: k.context,
      });
    }
  }

  result(): { matches: YaraMatch[]; incomplete: YaraIncomplete[]; warnings: AnalysisWarning[] } {
    return { matches: [...this.matches], incomplete: [...this.incomplete], warnings: [...this.warnings] };
  }
}
