import { canonicalJson, sha256Hex } from '../core/canonical-json.js';
import type { CustodyAction, CustodyActor, CustodyEntry } from '../core/custody-entry.js';

export const GENESIS = '0'.repeat(64);

export function entryHash(entry: Omit<CustodyEntry, 'hash'>): string {
  const { seq, at, actor, action, details, prev } = entry;
  return sha256Hex(canonicalJson({ seq, at, actor, action, details, prev }));
}

/** An append-only custody chain being written. */
export class CustodyChain {
  private readonly list: CustodyEntry[];

  /** `existing`: entries written before (a capture resumed after a restart continues its chain). */
  constructor(
    private readonly actor: CustodyActor,
    private readonly now: () => Date = () => new Date(),
    existing: readonly CustodyEntry[] = [],
  ) {
    this.list = [...existing];
  }

  /** Appends an entry; `at` overrides the time for events that happened earlier (e.g. the signal). */
  append(action: CustodyAction, details: Record<string, unknown> = {}, actor: CustodyActor = this.actor, at?: string): CustodyEntry {
    const last = this.list[this.list.length - 1];
    const body = { seq: this.list.length, at: at ?? this.now().toISOString(), actor, action, details, prev: last?.hash ?? GENESIS };
    const entry: CustodyEntry = { ...body, hash: entryHash(body) };
    this.list.push(entry);
    return entry;
  }

  get head(): string {
    return this.list[this.list.length - 1]?.hash ?? GENESIS;
  }

  get entries(): readonly CustodyEntry[] {
    return this.list;
  }

  /** How many entries record `action`. */
  count(action: CustodyAction): number {
    return this.list.filter((e) => e.action === action).length;
  }

  /** The latest entry that records `action`, if any. */
  last(action: CustodyAction): CustodyEntry | undefined {
    return this.list.findLast((e) => e.action === action);
  }

  /** True when the chain's latest entry records `action`. */
  endsWith(action: CustodyAction): boolean {
    return this.list[this.list.length - 1]?.action === action;
  }

  /** custody.jsonl: one canonical JSON entry a line. */
  toJsonl(): string {
    return this.list.map((e) => `${canonicalJson(e)}\n`).join('');
  }
}

export interface ChainProblem {
  /** 1-based line of custody.jsonl. */
  readonly line: number;
  readonly problem: string;
}

/** Checks every line's hash and link; returns the head hash and every problem found. */
export function verifyCustodyJsonl(text: string): { head: string; entries: number; problems: ChainProblem[] } {
  const problems: ChainProblem[] = [];
  let prev = GENESIS;
  let count = 0;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const at = i + 1;
    let entry: CustodyEntry;
    try {
      entry = JSON.parse(line) as CustodyEntry;
    } catch {
      problems.push({ line: at, problem: 'not JSON' });
      continue;
    }
    count++;
    if (entry.seq !== i) problems.push({ line: at, problem: `seq is ${String(entry.seq)}, expected ${i}` });
    if (entry.prev !== prev) problems.push({ line: at, problem: 'prev does not match the previous entry (line dropped, reordered or inserted)' });
    const expected = entryHash(entry);
    if (entry.hash !== expected) problems.push({ line: at, problem: 'hash does not match the entry (entry edited)' });
    prev = typeof entry.hash === 'string' ? entry.hash : '';
  }
  return { head: prev, entries: count, problems };
}
