/**
 * The memory search of one checkpoint archive, for a caller that wants the matches as they are
 * found and not the inspection (the evidence browser's search route).
 */
import type { OpenArchive } from './archive/archive-chunks.js';
import type { AnalysisWarning } from './criu/criu-model.js';
import { inspectCheckpoint } from './inspect-checkpoint.js';
import type { MemoryMatch } from './inspection.js';

export interface SearchArchiveOptions {
  /** only this process's memory */
  pid?: number;
  /** each match as soon as it is certain, once each, in the order of the `matches` returned */
  onMatch?: (m: MemoryMatch) => void;
  /** aborting it stops the reading at once and rejects with AmberError SEARCH_CANCELLED */
  signal?: AbortSignal;
  /** stop after this many matches, with a warning (default 1000) */
  maxMatches?: number;
  /** bytes of context either side of a match (default 32) */
  contextBytes?: number;
}

/**
 * Searches the memory dumped in a checkpoint archive for `pattern` (a literal, or `/regex/flags`
 * over the bytes read as latin1). `warnings` are all of the archive's, not only the search's: a
 * damaged archive or a missing pagemap says where matches may be missing. Throws as
 * inspectCheckpoint does: SEARCH_BAD_PATTERN before reading anything, NOT_A_CHECKPOINT,
 * SEARCH_CANCELLED, or the source's own error.
 */
export async function searchArchiveMemory(
  open: OpenArchive,
  pattern: string,
  opts: SearchArchiveOptions = {},
): Promise<{ matches: MemoryMatch[]; warnings: AnalysisWarning[] }> {
  const { inspection, matches } = await inspectCheckpoint(open, { ...opts, search: pattern });
  return { matches: matches ?? [], warnings: inspection.warnings };
}
