/**
 * The port the rest of amber sees of a YARA engine: compile rule sources once, then scan bounded
 * buffers. The only implementation is YARA-X (yara-x-engine.ts); tests hand in their own.
 */

/** One pattern match of a rule, at `offset` in the buffer scanned. */
export interface YaraPatternMatch {
  readonly pattern: string;
  readonly offset: number;
  readonly length: number;
}

/** A (public) rule that matched one buffer. */
export interface YaraRuleHit {
  readonly rule: string;
  readonly namespace: string;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string | number | boolean>>;
  /** Every pattern match, in buffer order; empty for a rule whose condition uses no pattern. */
  readonly matches: readonly YaraPatternMatch[];
}

export interface YaraScanResult {
  readonly hits: readonly YaraRuleHit[];
  /** The engine gave up on this buffer (its own timeout): `hits` may lack rules. */
  readonly timedOut: boolean;
}

/** Scans one buffer at a time; holds engine memory until `close()`. */
export interface YaraScanner {
  scan(data: Uint8Array): YaraScanResult;
  close(): void;
}

/** A compiled rule set, made once at start-up and shared by every scan. */
export interface YaraRules {
  /** The rule files compiled, in the order given (for logs and the report). */
  readonly files: readonly string[];
  /**
   * A scanner of these rules. `timeoutMs` is handed to the engine for each buffer; whether it can
   * stop a scan midway is the engine's affair (YARA-X's WASM build cannot: see yara-x-engine.ts),
   * so callers keep their own time budget as well.
   */
  scanner(opts: { timeoutMs: number }): YaraScanner;
}

/** One rule file's text, named by its path (the error names it). */
export interface YaraSource {
  readonly file: string;
  readonly text: string;
}

/** Compiles rule sources into one rule set. */
export interface YaraEngine {
  /** Throws AmberError YARA_RULES_INVALID with the file, line and column of the first bad rule. */
  compile(sources: readonly YaraSource[]): YaraRules;
}
