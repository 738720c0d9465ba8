import fc from 'fast-check';
import t from 'tap';
import type { Signal, Source } from '../../src/core/signal.js';
import { evaluatePolicies, PolicyIndex } from '../../src/policy/evaluate-policies.js';
import { parsePolicies } from '../../src/policy/load-policies.js';

// The intake evaluates policies through PolicyIndex (candidates by exact rule name); it must give
// exactly what the straightforward scan gives — same policies, same load order — for any policy
// set and any signal.

const RULES = ['Terminal shell in container', 'Write below etc', 'Read sensitive file untrusted', 'Test rule', 'shell'];
const REGEXES = ['/shell/i', '/^Write/', '/sensitive|etc/', '/^$/'];
const SOURCES: Source[] = ['falco', 'alertmanager', 'admission'];
const PRIORITIES = ['Emergency', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];

const ruleList = fc.array(fc.oneof(fc.constantFrom(...RULES), fc.constantFrom(...REGEXES)), { minLength: 1, maxLength: 3 });

/** Present one time in four, so that signals often pass every condition and match several policies. */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });

const policyDoc = fc
  .record({
    sources: fc.subarray(SOURCES, { minLength: 1 }),
    rules: fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: ruleList, weight: 4 }),
    priority: sometimes(
      fc.tuple(fc.constantFrom('>=', '<=', '>', '<', '=', ''), fc.constantFrom(...PRIORITIES, 'warning', 'info')).map(([op, p]) => `${op}${p}`),
    ),
    namespaces: sometimes(
      fc.oneof(
        fc.record({ include: fc.subarray(['shop', 'payments'], { minLength: 1 }) }),
        fc.record({ exclude: fc.subarray(['shop', 'kube-system'], { minLength: 1 }) }),
      ),
    ),
    tags: sometimes(fc.record({ any: fc.subarray(['shell', 'mitre_execution', 'T1059'], { minLength: 1 }) })),
  })
  .map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)));

const policySet = fc.array(fc.tuple(policyDoc, fc.boolean()), { minLength: 0, maxLength: 16 }).map((docs) =>
  docs.map(([match, disabled], i) => ({
    apiVersion: 'forensics.amber.dev/v1alpha1',
    kind: 'CapturePolicy',
    metadata: { name: `p${i}` },
    spec: { description: `Policy ${i}.`, ...(disabled ? { disabled: true } : {}), match },
  })),
);

const signal = fc.record({
  source: fc.constantFrom(...SOURCES),
  rule: fc.oneof(
    { arbitrary: fc.constantFrom(...RULES), weight: 4 },
    fc.constantFrom('Write below etc ', 'terminal shell in container', 'Other', ''),
    fc.string({ maxLength: 12 }),
  ),
  priority: fc.option(fc.constantFrom(...PRIORITIES, 'critical', 'WARN', ' notice', 'loud'), { nil: undefined, freq: 8 }),
  namespace: fc.constantFrom('shop', 'payments', 'kube-system'),
  tags: fc.subarray(['shell', 'mitre_execution', 'T1059', 'container']),
});

function toSignal(s: { source: Source; rule: string; priority: string | undefined; namespace: string; tags: string[] }): Signal {
  return {
    source: s.source,
    rule: s.rule,
    ...(s.priority === undefined ? {} : { priority: s.priority }),
    time: '2026-11-28T10:00:00Z',
    tags: s.tags,
    fields: { 'proc.name': 'bash' },
    target: { namespace: s.namespace, pod: 'web-1', container: 'app' },
    raw: {},
  };
}

t.test('PolicyIndex.evaluate equals evaluatePolicies, in load order (property)', async (t) => {
  let multiple = 0;
  fc.assert(
    fc.property(policySet, fc.array(signal, { minLength: 1, maxLength: 8 }), (docs, signals) => {
      const policies = parsePolicies(docs.length === 0 ? [] : [{ file: 'gen.yaml', text: docs.map((d) => JSON.stringify(d)).join('\n---\n') }]);
      const index = new PolicyIndex(policies);
      for (const s of signals.map(toSignal)) {
        const want = evaluatePolicies(policies, s);
        const got = index.evaluate(s);
        if (want.length > 1) multiple++;
        if (JSON.stringify(got.map((d) => d.policy)) !== JSON.stringify(want.map((d) => d.policy))) return false;
        for (const [i, d] of got.entries()) {
          const w = want[i];
          if (w === undefined || d.signal !== s || d.cooldownMs !== w.cooldownMs || d.containers !== w.containers || d.evidence !== w.evidence) return false;
        }
      }
      return true;
    }),
    { numRuns: 400 },
  );
  t.pass('400 random policy sets agree');
  t.ok(multiple > 20, `${multiple} signals matched more than one policy (the order was exercised)`);
});

t.test('only exact rule lists are indexed; regex and rule-less policies are candidates for every rule', async (t) => {
  const text = [
    { name: 'exact', match: { sources: ['falco'], rules: ['A', 'B'] } },
    { name: 'regex', match: { sources: ['falco'], rules: ['A', '/^C/'] } },
    { name: 'any', match: { sources: ['falco'] } },
    { name: 'exact-b', match: { sources: ['falco', 'alertmanager'], rules: ['B'] } },
  ]
    .map(({ name, match }) =>
      JSON.stringify({ apiVersion: 'forensics.amber.dev/v1alpha1', kind: 'CapturePolicy', metadata: { name }, spec: { description: 'x', match } }),
    )
    .join('\n---\n');
  const policies = parsePolicies([{ file: 'p.yaml', text }]);
  t.same(
    policies.map((p) => p.exactRules),
    [['A', 'B'], undefined, undefined, ['B']],
  );
  const index = new PolicyIndex(policies);
  const names = (source: Source, rule: string) =>
    index.evaluate(toSignal({ source, rule, priority: 'Notice', namespace: 'shop', tags: [] })).map((d) => d.policy);
  t.same(names('falco', 'A'), ['exact', 'regex', 'any']);
  t.same(names('falco', 'B'), ['exact', 'any', 'exact-b']);
  t.same(names('falco', 'Cx'), ['regex', 'any']);
  t.same(names('falco', 'unknown'), ['any']);
  t.same(names('alertmanager', 'B'), ['exact-b']);
  t.same(names('admission', 'A'), []);
});

t.test('a regex rule is tried on the known rule names when the index is built, not on each signal', async (t) => {
  const text = [
    { name: 'exact', match: { sources: ['falco'], rules: ['A'] } },
    { name: 'regex', match: { sources: ['falco'], rules: ['/^A|^C/'] } },
    { name: 'regex-miss', match: { sources: ['falco'], rules: ['/^Z/'] } },
  ]
    .map(({ name, match }) =>
      JSON.stringify({ apiVersion: 'forensics.amber.dev/v1alpha1', kind: 'CapturePolicy', metadata: { name }, spec: { description: 'x', match } }),
    )
    .join('\n---\n');
  let ruleTests = 0;
  // The same policies, with each rules condition counting its calls on signals.
  const policies = parsePolicies([{ file: 'p.yaml', text }]).map((p) => ({
    ...p,
    conditions: p.conditions.map((c) => (c.what === 'rules' ? { ...c, test: (s: Signal) => (ruleTests++, c.test(s)) } : c)),
  }));
  const index = new PolicyIndex(policies);
  const names = (rule: string) => index.evaluate(toSignal({ source: 'falco', rule, priority: 'Notice', namespace: 'shop', tags: [] })).map((d) => d.policy);
  t.same(names('A'), ['exact', 'regex']);
  t.equal(ruleTests, 0, 'a known name runs no rule test');
  t.same(names('Cx'), ['regex']);
  t.equal(ruleTests, 2, "any other name runs the regex policies' rule tests");
});
