import type { Decision } from '../core/decision.js';
import type { Signal, Source } from '../core/signal.js';
import type { CompiledPolicy } from './compile-policy.js';

/** Every enabled policy whose conditions all hold for the signal, in load order. */
export function evaluatePolicies(policies: readonly CompiledPolicy[], signal: Signal): Decision[] {
  const out: Decision[] = [];
  for (const policy of policies) {
    if (policy.disabled || !policy.sources.has(signal.source)) continue;
    if (!policy.conditions.every((c) => c.test(signal))) continue;
    out.push(decide(policy, signal));
  }
  return out;
}

/** For `amber policy test`: the first condition that failed, or undefined when it matched. */
export function firstFailedCondition(policy: CompiledPolicy, signal: Signal): string | undefined {
  if (policy.disabled) return 'disabled';
  if (!policy.sources.has(signal.source)) return 'sources';
  return policy.conditions.find((c) => !c.test(signal))?.what;
}

function decide(policy: CompiledPolicy, signal: Signal): Decision {
  return { policy: policy.name, signal, ...policy.capture, evidence: policy.evidence };
}

/** A policy as the index evaluates it: the conditions left to test once it is a candidate. */
interface Candidate {
  readonly policy: CompiledPolicy;
  readonly tests: readonly ((signal: Signal) => boolean)[];
}

const NONE: readonly Candidate[] = [];

/**
 * The same answers as `evaluatePolicies` over a fixed policy list, without testing every policy:
 * most policies name their Falco rules exactly, and a signal has one rule, so the policies that
 * can match a signal are those naming its rule plus those with a `/regex/` rule or no rule
 * condition. The candidate list for each (source, exact rule name) is merged in load order when
 * the index is built, so decisions come out in the same order as a straight scan; disabled
 * policies and other sources are left out up front. A `/regex/` rule is tried on each exact name
 * then, too, so a signal with a known rule name runs no rule test at all. Only rule names that
 * some policy names get a list of their own, so hostile rule names cannot grow the index.
 */
export class PolicyIndex {
  /** Per source: exact rule name → candidates in load order. */
  private readonly byRule = new Map<Source, Map<string, readonly Candidate[]>>();
  /** Per source: the candidates for any other rule name (regex rules, no rule condition). */
  private readonly anyRule = new Map<Source, readonly Candidate[]>();

  constructor(readonly policies: readonly CompiledPolicy[]) {
    const enabled = policies.filter((p) => !p.disabled);
    const sources = new Set(enabled.flatMap((p) => [...p.sources]));
    for (const source of sources) {
      const mine = enabled.filter((p) => p.sources.has(source));
      // `ruleHeld`: the policy's rule condition is known to hold for the name the list is for.
      const toCandidate = (p: CompiledPolicy, ruleHeld: boolean): Candidate => ({
        policy: p,
        tests: (ruleHeld ? p.conditions.filter((c) => c.what !== 'rules') : p.conditions).map((c) => c.test),
      });
      const unindexed = mine.filter((p) => p.exactRules === undefined);
      this.anyRule.set(
        source,
        unindexed.map((p) => toCandidate(p, false)),
      );
      const names = new Set(mine.flatMap((p) => p.exactRules ?? []));
      const byName = new Map<string, readonly Candidate[]>();
      for (const name of names) {
        const list: Candidate[] = [];
        for (const p of mine) {
          if (p.exactRules !== undefined) {
            if (p.exactRules.includes(name)) list.push(toCandidate(p, true));
          } else if (p.matchesRule === undefined) {
            list.push(toCandidate(p, false)); // no rule condition, or a hand-built policy: test everything
          } else if (p.matchesRule(name)) {
            list.push(toCandidate(p, true));
          }
        }
        byName.set(name, list);
      }
      this.byRule.set(source, byName);
    }
  }

  /** Every enabled policy whose conditions all hold for the signal, in load order. */
  evaluate(signal: Signal): Decision[] {
    const candidates = this.byRule.get(signal.source)?.get(signal.rule) ?? this.anyRule.get(signal.source) ?? NONE;
    const out: Decision[] = [];
    for (const { policy, tests } of candidates) {
      let ok = true;
      for (const test of tests) {
        if (!test(signal)) {
          ok = false;
          break;
        }
      }
      if (ok) out.push(decide(policy, signal));
    }
    return out;
  }
}
