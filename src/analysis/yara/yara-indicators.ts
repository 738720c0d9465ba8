/**
 * YARA findings as triage indicators (triage-indicators.ts): one `yara-match` per rule and region
 * (a process's VMA, a file), and one `yara-incomplete` per region the rules did not finish.
 */
import type { Indicator } from '../triage-indicators.js';
import { describeMapping, type YaraFindings, type YaraMatch } from './yara-findings.js';

const SEVERITIES: ReadonlySet<string> = new Set(['high', 'medium', 'info']);

/** A rule's `severity` meta (high, medium or info, any case); anything else, or none, is medium. */
export function severityOf(m: Pick<YaraMatch, 'meta'>): Indicator['severity'] {
  const s = m.meta['severity'];
  const v = typeof s === 'string' ? s.toLowerCase() : '';
  return SEVERITIES.has(v) ? (v as Indicator['severity']) : 'medium';
}

export function yaraIndicators(f: YaraFindings): Indicator[] {
  const matches = f.matches.map((m): Indicator => {
    const evidence = {
      rule: m.rule,
      namespace: m.namespace,
      tags: m.tags,
      meta: m.meta,
      ...(m.pattern && { pattern: m.pattern }),
      where: m.where,
      context: m.context,
    };
    if (m.where.in === 'memory') {
      const { pid, address, mapping } = m.where;
      return {
        id: 'yara-match',
        severity: severityOf(m),
        summary: `YARA rule ${m.rule} matches the memory of pid ${pid} at ${address} (${describeMapping(mapping)})`,
        pid,
        ...(mapping.path !== undefined && { path: mapping.path }),
        evidence,
      };
    }
    return {
      id: 'yara-match',
      severity: severityOf(m),
      summary: `YARA rule ${m.rule} matches ${m.where.path}, a file the container added or changed`,
      path: m.where.path,
      evidence,
    };
  });
  const incomplete = f.incomplete.map((i): Indicator => ({
    id: 'yara-incomplete',
    severity: 'info',
    summary: `the YARA rules did not finish ${i.where}: ${i.reason}`,
    evidence: { ...i },
  }));
  return [...matches, ...incomplete];
}
