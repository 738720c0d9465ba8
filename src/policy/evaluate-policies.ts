import type { Decision } from '../core/decision.js';
import type { Signal } from '../core/signal.js';
import type { CompiledPolicy } from './compile-policy.js';

/** Every enabled policy whose conditions all hold for the signal, in load order. */
export function evaluatePolicies(policies: readonly CompiledPolicy[], signal: Signal): Decision[] {
  const out: Decision[] = [];
  for (const policy of policies) {
    if (policy.disabled || !policy.sources.has(signal.source)) continue;
    if (!policy.conditions.every((c) => c.test(signal))) continue;
    out.push({ policy: policy.name, signal, ...policy.capture, evidence: policy.evidence });
  }
  return out;
}

/** For `amber policy test`: the first condition that failed, or undefined when it matched. */
export function firstFailedCondition(policy: CompiledPolicy, signal: Signal): string | undefined {
  if (policy.disabled) return 'disabled';
  if (!policy.sources.has(signal.source)) return 'sources';
  return policy.conditions.find((c) => !c.test(signal))?.what;
}
