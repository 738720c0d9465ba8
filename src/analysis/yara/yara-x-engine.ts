/**
 * YARA-X (VirusTotal's Rust rewrite of YARA) through its official npm package, compiled to WASM:
 * no native build, no libyara on the node, the same binary on every architecture. The only module
 * that imports the SDK (eslint.config.js keeps it so).
 *
 * Two things measured on @virustotal/yara-x 1.20 that shape the callers:
 * - `Scanner.setTimeoutMs` does not stop a scan in the WASM build (a 1 ms timeout on a slow rule
 *   still ran 9 s and answered `valid: true`): there is no thread to interrupt it. It is set all
 *   the same (a later build may honour it, and its error is reported as `timedOut`), but the
 *   scanners in this folder bound the time themselves, between windows.
 * - A pattern that matches everywhere (`{ 00 00 }` over zeroed pages) makes the scan hand back a
 *   million matches a buffer: 2 MiB took 48 s and 78 MiB of heap, against 0.2 s and 1 MiB with
 *   the matches capped at MAX_MATCHES_PER_PATTERN. A rule is reported at its first match, so the
 *   cap loses nothing but `#a` counts above it in conditions.
 * - A failed `addSource` leaves the compiler unusable (`build()` then throws the same error), so
 *   the first bad file is the answer; its message carries `--> line:L:C`, relative to that file
 *   because each file is added on its own.
 */
import { readFileSync } from 'node:fs';
import { Compiler, initSync, type Rules } from '@virustotal/yara-x';
import { AmberError } from '../../core/amber-error.js';
import type { YaraEngine, YaraPatternMatch, YaraRuleHit, YaraRules, YaraScanner, YaraScanResult, YaraSource } from './yara-rules.js';

/** Matches of one pattern the engine hands back per buffer scanned (YARA-X's default: a million). */
export const MAX_MATCHES_PER_PATTERN = 1000;

let initialised = false;

/** The WASM module is instantiated once per process, on first use: wasm-bindgen's glue keeps one instance per JS module anyway. */
function ensureInit(): void {
  if (initialised) return;
  const wasm = new URL('yara_x_js_bg.wasm', import.meta.resolve('@virustotal/yara-x'));
  initSync({ module: readFileSync(wasm) });
  initialised = true;
}

/** The YARA-X engine. */
export function yaraXEngine(): YaraEngine {
  return {
    compile(sources: readonly YaraSource[]): YaraRules {
      ensureInit();
      const compiler = new Compiler();
      try {
        for (const s of sources) {
          try {
            compiler.addSource(s.text);
          } catch (e) {
            throw invalid(s.file, e);
          }
        }
        let rules: Rules;
        try {
          rules = compiler.build();
        } catch (e) {
          throw invalid(sources[sources.length - 1]?.file ?? '(none)', e);
        }
        return ruleSet(
          rules,
          sources.map((s) => s.file),
        );
      } finally {
        compiler.free();
      }
    },
  };
}

function invalid(file: string, e: unknown): AmberError {
  const message = e instanceof Error ? e.message : String(e);
  const at = /-->\s*line:(\d+):(\d+)/.exec(message);
  const first = message.split('\n')[0] ?? message;
  return new AmberError(
    'YARA_RULES_INVALID',
    { file, ...(at ? { line: Number(at[1]), column: Number(at[2]) } : {}), problem: first },
    { cause: e, message: `${file}${at ? `:${at[1]}:${at[2]}` : ''}: ${first}` },
  );
}

/** What the SDK's scan answers (its typings say `any`): the part we read. */
interface RawResult {
  valid?: boolean;
  errors?: unknown[];
  matches?: {
    identifier: string;
    namespace: string;
    isPrivate?: boolean;
    tags?: string[];
    metadata?: { identifier: string; value: unknown }[];
    patterns?: { identifier: string; matches?: { offset: number; length: number }[] }[];
  }[];
}

function ruleSet(rules: Rules, files: string[]): YaraRules {
  return {
    files,
    scanner({ timeoutMs }): YaraScanner {
      const scanner = rules.scanner();
      scanner.setTimeoutMs(Math.max(1, Math.ceil(timeoutMs)));
      scanner.setMaxMatchesPerPattern(MAX_MATCHES_PER_PATTERN);
      return {
        scan(data: Uint8Array): YaraScanResult {
          let raw: RawResult;
          try {
            raw = scanner.scan(data) as RawResult;
          } catch (e) {
            if (/time ?out/i.test(String(e))) return { hits: [], timedOut: true };
            throw e;
          }
          const timedOut = (raw.errors ?? []).some((e) => /time ?out/i.test(String(e)));
          return { hits: (raw.matches ?? []).filter((m) => !m.isPrivate).map(hitOf), timedOut };
        },
        close: () => scanner.free(),
      };
    },
  };
}

function hitOf(m: NonNullable<RawResult['matches']>[number]): YaraRuleHit {
  const meta: Record<string, string | number | boolean> = {};
  for (const { identifier, value } of m.metadata ?? []) {
    meta[identifier] = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : String(value);
  }
  const matches: YaraPatternMatch[] = (m.patterns ?? []).flatMap((p) =>
    (p.matches ?? []).map((x) => ({ pattern: p.identifier, offset: x.offset, length: x.length })),
  );
  matches.sort((a, b) => a.offset - b.offset);
  return { rule: m.identifier, namespace: m.namespace, tags: m.tags ?? [], meta, matches };
}
