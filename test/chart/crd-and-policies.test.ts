// What the chart takes from amber's sources, kept equal by these tests:
// 1. The Capture CRD is generated from the TypeBox schemas in src/core/capture.ts (npm test builds
//    dist/ first). The committed file must be what scripts/gen-crd.mjs writes now, and it must be a
//    structural schema that accepts what amber stores and refuses what amber would refuse.
// 2. The default CapturePolicy set is amber's policies/. Helm can only package files inside the
//    chart, so helm/amber/policies/ is a copy, and the copy must stay exact.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Compile } from 'typebox/compile';
import { parse } from 'yaml';
import { CaptureSpec, CaptureStatus } from '../../src/core/capture.js';
import { parsePolicies } from '../../src/policy/load-policies.js';
import { CHART, find, one, podSpec, render, ROOT } from './chart.js';

interface GenCrd {
  CRD_FILE: string;
  renderCrd(): Promise<string>;
  toStructural(schema: unknown, path?: string): Record<string, unknown>;
}
const GEN = join(ROOT, 'scripts', 'gen-crd.mjs');
const gen = (await import(pathToFileURL(GEN).href)) as GenCrd;

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  anyOf?: Schema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
} & Record<string, unknown>;

const committedText = readFileSync(gen.CRD_FILE, 'utf8');
const crd = parse(committedText) as {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: Record<string, unknown>;
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: unknown;
      additionalPrinterColumns: unknown[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
};
const version = crd.spec.versions[0];
if (!version) throw new Error('the CRD has no version');
const root = version.schema.openAPIV3Schema;

t.test('the committed CRD is what scripts/gen-crd.mjs generates from the current schemas', async (t) => {
  const generated = await gen.renderCrd();
  t.equal(committedText, generated, 'stale: run `npm run build && node scripts/gen-crd.mjs` and commit the result');
  const check = spawnSync(process.execPath, [GEN, '--check'], { cwd: ROOT, encoding: 'utf8' });
  t.equal(check.status, 0, `gen-crd --check agrees: ${check.stderr}`);
});

t.test('names, scope, version, status subresource and printer columns', async (t) => {
  t.equal(crd.metadata.name, 'captures.forensics.amber.dev');
  t.equal(crd.spec.group, 'forensics.amber.dev');
  t.equal(crd.spec.scope, 'Namespaced');
  t.match(crd.spec.names, { kind: 'Capture', plural: 'captures', singular: 'capture', shortNames: ['cap'] });
  t.equal(crd.spec.versions.length, 1);
  t.match(version, { name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
  t.same(version.additionalPrinterColumns, [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Namespace', type: 'string', jsonPath: '.spec.target.namespace' },
    { name: 'Pod', type: 'string', jsonPath: '.spec.target.pod' },
    { name: 'Container', type: 'string', jsonPath: '.spec.target.container' },
    { name: 'Rule', type: 'string', jsonPath: '.spec.trigger.rule' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ]);
  t.doesNotThrow(() => new CustomResourceDefinition(crd as never).validate(), 'valid apiextensions.k8s.io/v1 object');
});

/** The API server's structural-schema rules that JSON Schema does not share. */
function structuralProblems(s: Schema, path: string, inJunctor = false): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(s)) {
    if (key.startsWith('$')) problems.push(`${path}: ${key}`);
    if (['const', 'patternProperties', 'examples', 'if', 'then', 'else', 'prefixItems', 'unevaluatedProperties'].includes(key))
      problems.push(`${path}: ${key} is not accepted`);
  }
  if (s.additionalProperties === false) problems.push(`${path}: additionalProperties: false`);
  if (s.properties && s.additionalProperties !== undefined) problems.push(`${path}: properties with additionalProperties`);
  if (inJunctor) {
    for (const key of ['type', 'description', 'default', 'additionalProperties', 'nullable']) if (key in s) problems.push(`${path}: ${key} inside anyOf`);
  } else if (!s.type && !s['x-kubernetes-preserve-unknown-fields'] && !s['x-kubernetes-int-or-string']) {
    problems.push(`${path}: no type`);
  }
  if (s.type === 'integer' && s['format'] !== 'int64' && s['format'] !== 'int32') problems.push(`${path}: integer without int32/int64 format`);
  for (const [name, sub] of Object.entries(s.properties ?? {})) problems.push(...structuralProblems(sub, `${path}.${name}`, inJunctor));
  if (s.items) problems.push(...structuralProblems(s.items, `${path}[]`, inJunctor));
  if (typeof s.additionalProperties === 'object') problems.push(...structuralProblems(s.additionalProperties, `${path}.*`, inJunctor));
  for (const [i, sub] of (s.anyOf ?? []).entries()) problems.push(...structuralProblems(sub, `${path}.anyOf[${i}]`, true));
  return problems;
}

t.test('the schema is structural', async (t) => {
  t.same(structuralProblems(root, ''), []);
  t.same(root.required, ['spec']);
  t.same(Object.keys(root.properties ?? {}), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
});

/**
 * A validator for the subset the generated schema uses, enough to show that it accepts and refuses
 * what amber's own (TypeBox) check does. The API server itself is not available here.
 */
function validate(s: Schema, v: unknown, path = ''): string[] {
  if (s['x-kubernetes-preserve-unknown-fields'] && !s.type) return [];
  if (path === '.metadata') return []; // the API server validates ObjectMeta itself
  const problems: string[] = [];
  const type = Array.isArray(v) ? 'array' : v === null ? 'null' : Number.isInteger(v) ? 'integer' : typeof v;
  if (s.type && s.type !== type && !(s.type === 'number' && type === 'integer')) return [`${path}: ${type}, not ${s.type}`];
  if (s.enum && !s.enum.includes(v)) problems.push(`${path}: ${String(v)} not in ${s.enum.join('|')}`);
  if (typeof s.minimum === 'number' && typeof v === 'number' && v < s.minimum) problems.push(`${path}: below ${s.minimum}`);
  if (type === 'object') {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) problems.push(`${path}.${r}: required`);
    for (const [k, sub] of Object.entries(o)) {
      const ps = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
      if (ps) problems.push(...validate(ps, sub, `${path}.${k}`));
      else if (!s['x-kubernetes-preserve-unknown-fields']) problems.push(`${path}.${k}: unknown (pruned)`);
    }
  }
  if (type === 'array' && s.items) for (const [i, x] of (v as unknown[]).entries()) problems.push(...validate(s.items, x, `${path}[${i}]`));
  return problems;
}

const spec = {
  target: { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', podUID: '0b6f8b0e-5d4e-4e8a-9f0a-2b1c3d4e5f60', container: 'checkout', node: 'worker-1' },
  trigger: {
    source: 'falco',
    rule: 'Terminal shell in container',
    priority: 'Notice',
    time: '2025-03-14T09:26:41.512873014Z',
    policy: 'interactive-shell',
    signalDigest: 'a'.repeat(64),
  },
  containers: 'target',
  timeoutSeconds: 120,
  include: ['podSpec', 'logs'],
  evidence: { retentionDays: 90, lock: 'governance' },
};
const status = {
  phase: 'Sealed',
  phaseTimes: { Pending: '2025-03-14T09:26:42Z', Sealed: '2025-03-14T09:26:50Z' },
  attempts: 1,
  bundle: { uri: 's3://evidence/default/2025/03/14/01jp', archives: [{ container: 'checkout', size: 1048576, sha256: 'b'.repeat(64) }], signingKeyId: 'kid' },
  custody: [
    {
      seq: 0,
      at: '2025-03-14T09:26:42Z',
      actor: { component: 'responder' },
      action: 'signal.received',
      details: { any: { nested: [1, 'x'] } },
      prev: '',
      hash: 'c'.repeat(64),
    },
  ],
};

t.test("the CRD accepts and refuses the same Captures as amber's TypeBox schemas", async (t) => {
  const checkSpec = Compile(CaptureSpec);
  const checkStatus = Compile(CaptureStatus);
  const capture = { apiVersion: 'forensics.amber.dev/v1alpha1', kind: 'Capture', metadata: { name: '01jp' }, spec, status };
  t.ok(checkSpec.Check(spec) && checkStatus.Check(status), 'the sample is valid for amber');
  t.same(validate(root, capture), [], 'and for the CRD');
  const admission = {
    ...capture,
    spec: {
      ...spec,
      trigger: {
        ...spec.trigger,
        source: 'admission',
        rule: 'pods/exec',
        caller: 'apiserver-mtls',
        asserted: { by: 'apiserver-mtls', user: 'alice@example.com', groups: ['sre'], command: '/bin/sh' },
      },
    },
  };
  t.ok(checkSpec.Check(admission.spec), 'an admission trigger, its caller and what the caller asserted, are valid for amber');
  t.same(validate(root, admission), [], 'and kept whole by the CRD (nothing pruned)');
  const bad: [string, unknown][] = [
    ['an unknown phase', { ...capture, status: { ...status, phase: 'Done' } }],
    ['no target pod', { ...capture, spec: { ...spec, target: { namespace: 'shop' } } }],
    ['a string timeout', { ...capture, spec: { ...spec, timeoutSeconds: '120' } }],
    ['a negative retention', { ...capture, spec: { ...spec, evidence: { retentionDays: -1, lock: 'none' } } }],
    ['an unknown lock', { ...capture, spec: { ...spec, evidence: { retentionDays: 1, lock: 'forever' } } }],
    ['an unknown caller', { ...admission, spec: { ...admission.spec, trigger: { ...admission.spec.trigger, caller: 'root' } } }],
    ['an assertion without its asserter', { ...admission, spec: { ...admission.spec, trigger: { ...admission.spec.trigger, asserted: { user: 'alice' } } } }],
    ['a phase time that is not a string', { ...capture, status: { ...status, phaseTimes: { Sealed: 1 } } }],
  ];
  for (const [what, c] of bad) {
    const o = c as { spec: unknown; status: unknown };
    t.notOk(checkSpec.Check(o.spec) && checkStatus.Check(o.status), `amber refuses ${what}`);
    t.not(validate(root, c).length, 0, `the CRD refuses ${what}`);
  }
});

t.test('the conversion maps each TypeBox construct or refuses it by path', async (t) => {
  const { toStructural } = gen;
  t.same(
    toStructural({
      anyOf: [
        { type: 'string', const: 'a' },
        { type: 'string', const: 'b' },
      ],
    }),
    { type: 'string', enum: ['a', 'b'] },
  );
  t.same(
    toStructural({
      anyOf: [
        { type: 'integer', const: 1 },
        { type: 'integer', const: 2 },
      ],
    }),
    { type: 'integer', enum: [1, 2], format: 'int64' },
  );
  t.same(toStructural({ type: 'string', const: 'only' }), { type: 'string', enum: ['only'] });
  t.same(toStructural({ anyOf: [{ type: 'string' }, { type: 'null' }], description: 'maybe' }), { type: 'string', description: 'maybe', nullable: true });
  t.same(toStructural({ anyOf: [{ type: 'integer' }, { type: 'string' }] }), { 'x-kubernetes-int-or-string': true });
  t.same(toStructural({ type: 'number', exclusiveMinimum: 0 }), { type: 'number', minimum: 0, exclusiveMinimum: true });
  t.same(toStructural({ type: 'string', format: 'date-time', $id: 'T', description: 'when' }), { description: 'when', type: 'string', format: 'date-time' });
  t.same(toStructural({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }), {
    type: 'object',
    properties: { a: { type: 'string' } },
  });
  t.same(toStructural({ type: 'object', additionalProperties: true }), { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  t.same(toStructural({ type: 'object', additionalProperties: { type: 'integer' } }), {
    type: 'object',
    additionalProperties: { type: 'integer', format: 'int64' },
  });
  t.same(toStructural({}), { 'x-kubernetes-preserve-unknown-fields': true });
  t.same(
    toStructural({
      anyOf: [
        { type: 'object', required: ['kind', 'url'], properties: { kind: { type: 'string' }, url: { type: 'string' } } },
        { type: 'object', required: ['kind', 'path'], properties: { kind: { type: 'string' }, path: { type: 'string' } } },
      ],
    }),
    {
      type: 'object',
      properties: { kind: { type: 'string' }, url: { type: 'string' }, path: { type: 'string' } },
      required: ['kind'],
      anyOf: [{ required: ['kind', 'url'] }, { required: ['kind', 'path'] }],
    },
    "a union of objects: every property, the variants' required lists as alternatives",
  );
  t.same(
    toStructural({
      anyOf: [
        { type: 'object', properties: { a: { type: 'string' } } },
        { type: 'object', required: ['b'], properties: { b: { type: 'string' } } },
      ],
    }),
    { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } } },
    'a variant that requires nothing makes the alternatives moot',
  );
  const refused: [unknown, RegExp][] = [
    [{ type: 'string', pattern: 'x', not: {} }, /<root>: keyword 'not' has no CRD mapping/],
    [{ type: 'object', properties: { a: { type: ['string', 'null'] } } }, /\.a: a list of types/],
    [{ type: 'object', patternProperties: { '^x-': { type: 'string' } } }, /patternProperties '\^x-'/],
    [{ type: 'array', items: [{ type: 'string' }] }, /tuples are not structural/],
    [{ anyOf: [{ type: 'string' }, { type: 'object' }] }, /a union of string \| object is not structural/],
    [
      {
        anyOf: [
          { type: 'string', const: 'a' },
          { type: 'integer', const: 1 },
        ],
      },
      /literals of several types/,
    ],
    [{ type: 'string', format: 'semver' }, /format 'semver' is unknown/],
    [
      {
        anyOf: [
          { type: 'object', properties: { a: { type: 'string' } } },
          { type: 'object', properties: { a: { type: 'integer' } } },
        ],
      },
      /\.a: variant 1 gives this property another schema/,
    ],
    [{ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }, /properties and a record/],
    [{ minimum: 1 }, /no type/],
  ];
  for (const [schema, message] of refused) t.throws(() => toStructural(schema), { message }, `refuses ${JSON.stringify(schema)}`);
});

// ---- 2. The policies ----

const SOURCE = join(ROOT, 'policies');
const COPY = join(CHART, 'policies');
const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort();
const SYNC = 'run: rm -f helm/amber/policies/*.yaml && cp policies/*.yaml helm/amber/policies/';

t.test('helm/amber/policies/ is an exact copy of policies/', async (t) => {
  t.same(yamlFiles(COPY), yamlFiles(SOURCE), `the same files (${SYNC})`);
  for (const name of yamlFiles(SOURCE)) {
    t.equal(readFileSync(join(COPY, name), 'utf8'), readFileSync(join(SOURCE, name), 'utf8'), `${name} is identical (${SYNC})`);
  }
});

t.test('the policies ConfigMap holds every shipped file byte for byte, and amber accepts the set', async (t) => {
  const objects = render();
  const data = one(objects, 'ConfigMap', 'amber-policies')['data'] as Record<string, string>;
  t.same(Object.keys(data).sort(), yamlFiles(SOURCE));
  for (const name of yamlFiles(SOURCE)) t.equal(data[name], readFileSync(join(SOURCE, name), 'utf8'), name);
  const compiled = parsePolicies(Object.entries(data).map(([file, text]) => ({ file, text })));
  t.ok(compiled.length >= yamlFiles(SOURCE).length, `${compiled.length} policies compile as amber loads them`);
  for (const kind of ['Deployment', 'DaemonSet']) {
    t.match(
      podSpec(one(objects, kind)).volumes?.find((v) => v.name === 'policies'),
      { configMap: { name: 'amber-policies' } },
      `${kind} mounts it`,
    );
  }
});

t.test('policies.extra adds or replaces files; builtin=false ships only those', async (t) => {
  const mine = 'apiVersion: forensics.amber.dev/v1alpha1\nkind: CapturePolicy\nmetadata: { name: mine }\n';
  const replaced = one(render({ policies: { extra: { 'interactive-shell.yaml': mine, 'site.yml': mine } } }), 'ConfigMap', 'amber-policies')['data'] as Record<
    string,
    string
  >;
  t.equal(replaced['interactive-shell.yaml'], mine, 'same name: replaced');
  t.equal(replaced['site.yml'], mine);
  t.equal(Object.keys(replaced).length, yamlFiles(SOURCE).length + 1);
  const only = one(render({ policies: { builtin: false, extra: { 'site.yaml': mine } } }), 'ConfigMap', 'amber-policies')['data'] as Record<string, string>;
  t.same(Object.keys(only), ['site.yaml']);
});

t.test('policies.existingConfigMap: mounted, not rendered', async (t) => {
  const objects = render({ policies: { existingConfigMap: 'soc-policies' } });
  t.equal(find(objects, 'ConfigMap').length, 0);
  t.match(
    podSpec(one(objects, 'DaemonSet')).volumes?.find((v) => v.name === 'policies'),
    { configMap: { name: 'soc-policies' } },
  );
});
