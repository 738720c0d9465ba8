import t from 'tap';
import { PRIORITIES, type Signal } from '../../src/core/signal.js';
import type { CompiledPolicy } from '../../src/policy/compile-policy.js';
import { evaluatePolicies, firstFailedCondition } from '../../src/policy/evaluate-policies.js';
import { parsePolicies } from '../../src/policy/load-policies.js';

/** One compiled policy from a `spec.match` (JSON is YAML, so the document is written as JSON). */
function policy(match: Record<string, unknown>, spec: Record<string, unknown> = {}, name = 'p'): CompiledPolicy {
  const doc = {
    apiVersion: 'forensics.amber.dev/v1alpha1',
    kind: 'CapturePolicy',
    metadata: { name },
    spec: { description: `Policy ${name}.`, match: { sources: ['falco'], ...match }, ...spec },
  };
  const [p] = parsePolicies([{ file: `policies/${name}.yaml`, text: JSON.stringify(doc) }]);
  if (!p) throw new Error('no policy compiled');
  return p;
}

/** A Falco terminal-shell signal, as normaliseFalco makes it; `over` replaces top-level keys. */
function signal(over: Partial<Signal> = {}): Signal {
  return {
    source: 'falco',
    rule: 'Terminal shell in container',
    priority: 'Notice',
    time: '2025-03-14T09:26:41.512873014Z',
    tags: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'],
    fields: {
      'container.id': '3f9c2a7b1d04',
      'container.image.repository': 'ghcr.io/acme-shop/checkout',
      'container.name': 'checkout',
      'k8s.ns.name': 'shop',
      'proc.exepath': '/usr/bin/bash',
      'proc.name': 'bash',
      'proc.tty': 34816,
      'user.loginuid': -1,
      'user.name': 'root',
      'user.uid': 0,
      'evt.arg.flags': null,
      'fd.is_server': false,
    },
    target: { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', container: 'checkout', containerID: '3f9c2a7b1d04' },
    raw: {},
    ...over,
  };
}

function withFields(fields: Signal['fields']): Signal {
  return signal({ fields: { ...signal().fields, ...fields } });
}

function withoutField(key: string): Signal {
  const fields = { ...signal().fields };
  delete fields[key];
  return signal({ fields });
}

const matches = (p: CompiledPolicy, s: Signal): boolean => evaluatePolicies([p], s).length === 1;

t.test('sources', async (t) => {
  t.test('matches only signals from a listed source', async (t) => {
    const falcoOnly = policy({});
    t.ok(matches(falcoOnly, signal()));
    t.notOk(matches(falcoOnly, signal({ source: 'alertmanager' })));
    t.notOk(matches(falcoOnly, signal({ source: 'admission' })));
    t.equal(firstFailedCondition(falcoOnly, signal({ source: 'alertmanager' })), 'sources');
    const both = policy({ sources: ['falco', 'alertmanager'] });
    t.ok(matches(both, signal()));
    t.ok(matches(both, signal({ source: 'alertmanager' })));
    t.notOk(matches(both, signal({ source: 'admission' })));
    t.ok(matches(policy({ sources: ['admission'] }), signal({ source: 'admission' })));
  });
});

t.test('rules', async (t) => {
  t.test('an exact rule name matches only that exact name', async (t) => {
    const p = policy({ rules: ['Terminal shell in container'] });
    t.ok(matches(p, signal()));
    for (const rule of [
      'terminal shell in container',
      'Terminal shell in container ',
      'Terminal shell',
      'A Terminal shell in container',
      'Terminal shell in containers',
    ]) {
      t.notOk(matches(p, signal({ rule })), JSON.stringify(rule));
    }
    t.equal(firstFailedCondition(p, signal({ rule: 'Other' })), 'rules');
  });

  t.test('a name with regex characters in it is still an exact name unless it is /…/', async (t) => {
    const p = policy({ rules: ['Redirect STDOUT/STDIN to Network Connection in Container', 'Execution from /dev/shm', 'Run (something).*'] });
    t.ok(matches(p, signal({ rule: 'Redirect STDOUT/STDIN to Network Connection in Container' })));
    t.ok(matches(p, signal({ rule: 'Execution from /dev/shm' })));
    t.ok(matches(p, signal({ rule: 'Run (something).*' })));
    t.notOk(matches(p, signal({ rule: 'Run something else' })), 'not read as a regex');
    t.notOk(matches(p, signal({ rule: 'Redirect STDOUT-STDIN to Network Connection in Container' })));
  });

  t.test('a /regex/ matches anywhere it finds, case-sensitively unless flagged i', async (t) => {
    const anchored = policy({ rules: ['/^Drop and execute/'] });
    t.ok(matches(anchored, signal({ rule: 'Drop and execute new binary in container' })));
    t.notOk(matches(anchored, signal({ rule: 'drop and execute new binary in container' })), 'case matters');
    t.notOk(matches(anchored, signal({ rule: 'Detect Drop and execute' })), 'anchored at the start');
    const loose = policy({ rules: ['/shell/'] });
    t.ok(matches(loose, signal({ rule: 'Terminal shell in container' })));
    t.ok(matches(loose, signal({ rule: 'Reverse shell' })));
    t.notOk(matches(loose, signal({ rule: 'Reverse Shell' })));
    const insensitive = policy({ rules: ['/^drop and execute/i'] });
    t.ok(matches(insensitive, signal({ rule: 'Drop and execute new binary in container' })));
    t.ok(matches(insensitive, signal({ rule: 'DROP AND EXECUTE' })));
    t.notOk(matches(insensitive, signal({ rule: 'Terminal shell in container' })));
  });

  t.test('a regex is not stateful between signals', async (t) => {
    const p = policy({ rules: ['/shell/i'] });
    for (let i = 0; i < 5; i++) t.ok(matches(p, signal()), `evaluation ${i}`);
  });

  t.test('any one of several rules is enough', async (t) => {
    const p = policy({ rules: ['Fileless execution via memfd_create', '/^Drop and execute/', 'Terminal shell in container'] });
    t.ok(matches(p, signal()));
    t.ok(matches(p, signal({ rule: 'Fileless execution via memfd_create' })));
    t.ok(matches(p, signal({ rule: 'Drop and execute new binary in container' })));
    t.notOk(matches(p, signal({ rule: 'Search Private Keys or Passwords' })));
  });

  t.test('a policy without rules matches any rule', async (t) => {
    t.ok(matches(policy({}), signal({ rule: 'Anything at all' })));
  });
});

t.test('priority', async (t) => {
  // PRIORITIES is most severe first; a lower index is more severe.
  const index = (p: string): number => PRIORITIES.findIndex((x) => x === p);
  const expectations: Record<string, (sig: number, pol: number) => boolean> = {
    '>=': (sig, pol) => sig <= pol,
    '>': (sig, pol) => sig < pol,
    '<=': (sig, pol) => sig >= pol,
    '<': (sig, pol) => sig > pol,
    '=': (sig, pol) => sig === pol,
    '': (sig, pol) => sig === pol,
  };

  t.test('compares in Falco order for every operator and every pair of priorities', async (t) => {
    for (const [op, expect] of Object.entries(expectations)) {
      for (const wanted of PRIORITIES) {
        const p = policy({ priority: `${op}${wanted}` });
        for (const got of PRIORITIES) {
          t.equal(matches(p, signal({ priority: got })), expect(index(got), index(wanted)), `${got} vs "${op}${wanted}"`);
        }
      }
    }
  });

  t.test('spot checks: >=Notice takes Notice and Critical, not Informational', async (t) => {
    const p = policy({ priority: '>=Notice' });
    t.ok(matches(p, signal({ priority: 'Notice' })));
    t.ok(matches(p, signal({ priority: 'Critical' })));
    t.ok(matches(p, signal({ priority: 'Emergency' })));
    t.notOk(matches(p, signal({ priority: 'Informational' })));
    t.notOk(matches(p, signal({ priority: 'Debug' })));
    t.equal(firstFailedCondition(p, signal({ priority: 'Debug' })), 'priority');
    t.notOk(matches(policy({ priority: '>Notice' }), signal({ priority: 'Notice' })));
    t.ok(matches(policy({ priority: '<Notice' }), signal({ priority: 'Informational' })));
    t.ok(matches(policy({ priority: 'Notice' }), signal({ priority: 'Notice' })));
    t.notOk(matches(policy({ priority: 'Notice' }), signal({ priority: 'Warning' })), 'a bare name means equal');
  });

  t.test('reads lower-case and alias spellings in signals', async (t) => {
    const p = policy({ priority: '>=Warning' });
    t.ok(matches(p, signal({ priority: 'critical' })));
    t.ok(matches(p, signal({ priority: 'CRITICAL' })));
    t.ok(matches(p, signal({ priority: 'warning' })));
    t.ok(matches(p, signal({ priority: 'warn' })));
    t.notOk(matches(p, signal({ priority: 'notice' })));
    const info = policy({ priority: '=Informational' });
    t.ok(matches(info, signal({ priority: 'Info' })));
    t.ok(matches(info, signal({ priority: 'informational' })));
    t.notOk(matches(info, signal({ priority: 'Debug' })));
  });

  t.test('reads lower-case names and spaces in the policy', async (t) => {
    t.ok(matches(policy({ priority: '>= warning' }), signal({ priority: 'Error' })));
    t.notOk(matches(policy({ priority: '>= warning' }), signal({ priority: 'Notice' })));
    t.ok(matches(policy({ priority: ' <=info ' }), signal({ priority: 'Debug' })));
  });

  t.test('a signal with an unknown priority never satisfies a priority condition', async (t) => {
    for (const op of ['>=', '<=', '<', '>', '=']) {
      t.notOk(matches(policy({ priority: `${op}Notice` }), signal({ priority: 'loud' })), op);
    }
  });

  t.test('a signal without a priority fails a policy with a priority condition, and passes one without', async (t) => {
    const { priority: _, ...rest } = signal();
    const noPriority: Signal = rest;
    t.notOk(matches(policy({ priority: '>=Debug' }), noPriority), 'not even >=Debug');
    t.notOk(matches(policy({ priority: '<=Emergency' }), noPriority));
    t.equal(firstFailedCondition(policy({ priority: '>=Debug' }), noPriority), 'priority');
    t.ok(matches(policy({}), noPriority));
  });
});

t.test('tags', async (t) => {
  t.test('any: one listed tag present is enough', async (t) => {
    const p = policy({ tags: { any: ['mitre_persistence', 'mitre_execution'] } });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, signal({ tags: ['container', 'shell'] })));
    t.notOk(matches(p, signal({ tags: [] })));
    t.notOk(matches(p, signal({ tags: ['MITRE_EXECUTION'] })), 'tags compare exactly');
    t.equal(firstFailedCondition(p, signal({ tags: [] })), 'tags.any');
  });

  t.test('all: every listed tag must be present', async (t) => {
    const p = policy({ tags: { all: ['container', 'shell'] } });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, signal({ tags: ['container'] })));
    t.equal(firstFailedCondition(p, signal({ tags: ['shell'] })), 'tags.all');
  });

  t.test('any and all together must both hold', async (t) => {
    const p = policy({ tags: { any: ['mitre_execution', 'mitre_persistence'], all: ['container'] } });
    t.ok(matches(p, signal({ tags: ['container', 'mitre_persistence'] })));
    t.notOk(matches(p, signal({ tags: ['mitre_persistence'] })));
    t.notOk(matches(p, signal({ tags: ['container'] })));
  });
});

t.test('namespaces', async (t) => {
  t.test('include: only the listed namespaces, and never a signal without one', async (t) => {
    const p = policy({ namespaces: { include: ['shop', 'payments'] } });
    t.ok(matches(p, signal()));
    t.ok(matches(p, signal({ target: { namespace: 'payments', pod: 'x' } })));
    t.notOk(matches(p, signal({ target: { namespace: 'shopping', pod: 'x' } })));
    t.notOk(matches(p, signal({ target: { pod: 'x' } })));
    t.equal(firstFailedCondition(p, signal({ target: { namespace: 'default' } })), 'namespaces.include');
  });

  t.test('exclude: everything but the listed namespaces, including a signal without one', async (t) => {
    const p = policy({ namespaces: { exclude: ['kube-system'] } });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, signal({ target: { namespace: 'kube-system', pod: 'coredns-0' } })));
    t.ok(matches(p, signal({ target: { namespace: 'kube-system-ish', pod: 'x' } })));
    t.ok(matches(p, signal({ target: {} })));
    t.equal(firstFailedCondition(p, signal({ target: { namespace: 'kube-system' } })), 'namespaces.exclude');
  });

  t.test('include and exclude together', async (t) => {
    const p = policy({ namespaces: { include: ['shop', 'kube-system'], exclude: ['kube-system'] } });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, signal({ target: { namespace: 'kube-system' } })));
  });

  t.test('reads the target namespace, not the k8s.ns.name field', async (t) => {
    const p = policy({ namespaces: { include: ['shop'] } });
    t.notOk(matches(p, signal({ target: { namespace: 'other' }, fields: { 'k8s.ns.name': 'shop' } })));
  });
});

t.test('field conditions', async (t) => {
  t.test('in: the value, as text, is one of the values', async (t) => {
    const p = policy({ fields: [{ key: 'user.name', op: 'in', values: ['root', 'admin'] }] });
    t.ok(matches(p, signal()));
    t.ok(matches(p, withFields({ 'user.name': 'admin' })));
    t.notOk(matches(p, withFields({ 'user.name': 'app' })));
    t.notOk(matches(p, withFields({ 'user.name': 'Root' })));
    t.notOk(matches(p, withoutField('user.name')), 'absent is not in');
    t.notOk(matches(p, withFields({ 'user.name': null })), 'null is not in');
    t.equal(firstFailedCondition(p, withFields({ 'user.name': 'app' })), 'fields[0] user.name in');
  });

  t.test('in: numbers and booleans compare by their text', async (t) => {
    t.ok(matches(policy({ fields: [{ key: 'user.uid', op: 'in', values: [0, 1000] }] }), signal()));
    t.ok(matches(policy({ fields: [{ key: 'user.uid', op: 'in', values: ['0'] }] }), signal()));
    t.ok(matches(policy({ fields: [{ key: 'user.loginuid', op: 'in', values: [-1] }] }), signal()));
    t.ok(matches(policy({ fields: [{ key: 'fd.is_server', op: 'in', values: [false] }] }), signal()));
    t.ok(matches(policy({ fields: [{ key: 'user.uid', op: 'in', values: ['0'] }] }), withFields({ 'user.uid': '0' })), 'a label string');
    t.notOk(matches(policy({ fields: [{ key: 'user.uid', op: 'in', values: [1000] }] }), signal()));
  });

  t.test('notIn: the value is not one of the values; an absent or null field counts as not in', async (t) => {
    const p = policy({ fields: [{ key: 'container.image.repository', op: 'notIn', values: ['falcosecurity/falco', 'registry.k8s.io/pause'] }] });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, withFields({ 'container.image.repository': 'falcosecurity/falco' })));
    t.notOk(matches(p, withFields({ 'container.image.repository': 'registry.k8s.io/pause' })));
    t.ok(matches(p, withoutField('container.image.repository')), 'absent');
    t.ok(matches(p, withFields({ 'container.image.repository': null })), 'null');
    t.equal(firstFailedCondition(p, withFields({ 'container.image.repository': 'falcosecurity/falco' })), 'fields[0] container.image.repository notIn');
  });

  t.test('equals: exactly the one value, as text', async (t) => {
    const p = policy({ fields: [{ key: 'proc.name', op: 'equals', values: ['bash'] }] });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, withFields({ 'proc.name': 'bash2' })));
    t.notOk(matches(p, withFields({ 'proc.name': 'bas' })));
    t.notOk(matches(p, withoutField('proc.name')));
    t.notOk(matches(p, withFields({ 'proc.name': null })));
    t.ok(matches(policy({ fields: [{ key: 'proc.tty', op: 'equals', values: [34816] }] }), signal()));
    t.ok(matches(policy({ fields: [{ key: 'proc.tty', op: 'equals', values: ['34816'] }] }), signal()));
  });

  t.test('prefix: the value starts with one of the values', async (t) => {
    const p = policy({ fields: [{ key: 'container.image.repository', op: 'prefix', values: ['docker.io/', 'ghcr.io/acme-shop/'] }] });
    t.ok(matches(p, signal()));
    t.notOk(matches(p, withFields({ 'container.image.repository': 'ghcr.io/other/checkout' })));
    t.notOk(matches(p, withFields({ 'container.image.repository': 'evil.example/ghcr.io/acme-shop/x' })), 'a prefix, not a substring');
    t.notOk(matches(p, withoutField('container.image.repository')));
    t.ok(matches(policy({ fields: [{ key: 'proc.exepath', op: 'prefix', values: ['/usr/'] }] }), signal()));
  });

  t.test('regex: a bare pattern or a /pattern/flags, matched against the text', async (t) => {
    const bare = policy({ fields: [{ key: 'proc.exepath', op: 'regex', values: ['^/tmp/', '^/dev/shm/'] }] });
    t.notOk(matches(bare, signal()));
    t.ok(matches(bare, withFields({ 'proc.exepath': '/tmp/.x/kworkerd' })));
    t.ok(matches(bare, withFields({ 'proc.exepath': '/dev/shm/payload' })));
    t.notOk(matches(bare, withFields({ 'proc.exepath': '/var/tmp/x' })), 'anchored');
    t.notOk(matches(bare, withoutField('proc.exepath')));
    const flagged = policy({ fields: [{ key: 'proc.name', op: 'regex', values: ['/^BASH$/i'] }] });
    t.ok(matches(flagged, signal()));
    t.notOk(matches(flagged, withFields({ 'proc.name': 'bash2' })));
    const cased = policy({ fields: [{ key: 'proc.name', op: 'regex', values: ['/^BASH$/'] }] });
    t.notOk(matches(cased, signal()));
    t.ok(matches(policy({ fields: [{ key: 'user.loginuid', op: 'regex', values: ['^-1$'] }] }), signal()), 'numbers as text');
  });

  t.test('regex: a value that starts with / but is not /pattern/flags does not break evaluation', async (t) => {
    // e.g. a path pattern: '/tmp/x' is neither /pattern/flags nor wrapped, so compiles to nothing today
    let p: CompiledPolicy | undefined;
    let loadError: unknown;
    try {
      p = policy({ fields: [{ key: 'proc.exepath', op: 'regex', values: ['/tmp/x'] }] });
    } catch (e) {
      loadError = e; // refusing it at load time would be fine too
    }
    if (p) {
      const compiled = p;
      t.doesNotThrow(() => evaluatePolicies([compiled], withFields({ 'proc.exepath': '/tmp/x/y' })), 'evaluating does not throw');
      t.equal(evaluatePolicies([compiled], withFields({ 'proc.exepath': '/tmp/x/y' })).length, 1, 'a bare path pattern matches');
    } else {
      t.match(loadError, { code: 'POLICY_BAD_REGEX' });
    }
  });

  t.test('exists: the field is present and not null', async (t) => {
    const p = policy({ fields: [{ key: 'container.name', op: 'exists' }] });
    t.ok(matches(p, signal()));
    t.ok(matches(policy({ fields: [{ key: 'user.uid', op: 'exists' }] }), signal()), 'a 0 is present');
    t.ok(matches(policy({ fields: [{ key: 'fd.is_server', op: 'exists' }] }), signal()), 'a false is present');
    t.ok(matches(policy({ fields: [{ key: 'proc.name', op: 'exists', values: [true] }] }), signal()));
    t.notOk(matches(p, withoutField('container.name')));
    t.notOk(matches(policy({ fields: [{ key: 'evt.arg.flags', op: 'exists' }] }), signal()), 'null is absent');
    t.equal(firstFailedCondition(p, withoutField('container.name')), 'fields[0] container.name exists');
  });

  t.test('exists [false]: the field is absent or null', async (t) => {
    for (const values of [[false], ['false']]) {
      const p = policy({ fields: [{ key: 'container.name', op: 'exists', values }] });
      t.notOk(matches(p, signal()), JSON.stringify(values));
      t.ok(matches(p, withoutField('container.name')), JSON.stringify(values));
      t.ok(matches(p, withFields({ 'container.name': null })), JSON.stringify(values));
    }
  });

  t.test('several conditions must all hold, and the first failing one is named with its index', async (t) => {
    const p = policy({
      fields: [
        { key: 'user.name', op: 'equals', values: ['root'] },
        { key: 'proc.name', op: 'in', values: ['bash', 'sh'] },
        { key: 'container.image.repository', op: 'prefix', values: ['ghcr.io/'] },
      ],
    });
    t.ok(matches(p, signal()));
    t.equal(firstFailedCondition(p, withFields({ 'proc.name': 'zsh' })), 'fields[1] proc.name in');
    t.equal(firstFailedCondition(p, withFields({ 'user.name': 'app', 'proc.name': 'zsh' })), 'fields[0] user.name equals');
    t.equal(firstFailedCondition(p, withFields({ 'container.image.repository': 'docker.io/x' })), 'fields[2] container.image.repository prefix');
  });

  t.test('field keys are looked up exactly, dots included', async (t) => {
    const p = policy({ fields: [{ key: 'k8s_ns_name', op: 'exists' }] });
    t.notOk(matches(p, signal()), 'k8s.ns.name is another key');
    t.ok(matches(p, withFields({ k8s_ns_name: 'shop' })));
  });
});

t.test('disabled policies', async (t) => {
  t.test('never match, and say so first', async (t) => {
    const p = policy({ rules: ['Terminal shell in container'] }, { disabled: true });
    t.equal(p.disabled, true);
    t.same(evaluatePolicies([p], signal()), []);
    t.equal(firstFailedCondition(p, signal()), 'disabled');
    t.equal(firstFailedCondition(p, signal({ source: 'admission' })), 'disabled', 'before sources');
  });

  t.test('disabled: false is an ordinary policy', async (t) => {
    t.ok(matches(policy({}, { disabled: false }), signal()));
  });
});

t.test('firstFailedCondition', async (t) => {
  t.test('is undefined when the policy matches', async (t) => {
    const p = policy({ rules: ['Terminal shell in container'], priority: '>=Notice', tags: { any: ['shell'] }, namespaces: { exclude: ['kube-system'] } });
    t.equal(firstFailedCondition(p, signal()), undefined);
  });

  t.test('names sources before any other condition, then rules, priority, tags, namespaces, fields', async (t) => {
    const p = policy({
      rules: ['Terminal shell in container'],
      priority: '>=Notice',
      tags: { any: ['shell'], all: ['container'] },
      namespaces: { include: ['shop'], exclude: ['kube-system'] },
      fields: [{ key: 'user.name', op: 'equals', values: ['root'] }],
    });
    const everythingWrong = signal({ source: 'alertmanager', rule: 'x', priority: 'Debug', tags: [], target: { namespace: 'kube-system' }, fields: {} });
    t.equal(firstFailedCondition(p, everythingWrong), 'sources');
    const steps: [Partial<Signal>, string | undefined][] = [
      [{ source: 'falco' }, 'rules'],
      [{ rule: 'Terminal shell in container' }, 'priority'],
      [{ priority: 'Notice' }, 'tags.any'],
      [{ tags: ['shell'] }, 'tags.all'],
      [{ tags: ['shell', 'container'] }, 'namespaces.include'],
      [{ target: { namespace: 'shop' } }, 'fields[0] user.name equals'],
      [{ fields: { 'user.name': 'root' } }, undefined],
    ];
    let s = everythingWrong;
    for (const [fix, next] of steps) {
      s = { ...s, ...fix };
      t.equal(firstFailedCondition(p, s), next, `after fixing ${Object.keys(fix).join()}`);
    }
    t.equal(firstFailedCondition(p, { ...s, target: { namespace: 'kube-system' } }), 'namespaces.include');
  });
});

t.test('evaluatePolicies', async (t) => {
  t.test('returns a decision for every matching policy, in load order, with its capture and evidence settings', async (t) => {
    const docs = [
      {
        name: 'first',
        match: { rules: ['/shell/'] },
        spec: { capture: { containers: 'all', cooldown: '5m', timeoutSeconds: 60, include: ['logs'] }, evidence: { retentionDays: 30, lock: 'none' } },
      },
      { name: 'second', match: { rules: ['Something else'] }, spec: {} },
      { name: 'third', match: { priority: '>=Notice' }, spec: { evidence: { lock: 'governance' } } },
      { name: 'fourth', match: { sources: ['alertmanager'] }, spec: {} },
      { name: 'fifth', match: {}, spec: { disabled: true } },
    ];
    const policies = docs.map((d) => policy(d.match, d.spec, d.name));
    const s = signal();
    const decisions = evaluatePolicies(policies, s);
    t.same(
      decisions.map((d) => d.policy),
      ['first', 'third'],
    );
    const [first, third] = decisions;
    t.equal(first?.signal, s, 'carries the very signal');
    t.same(first && { ...first, signal: undefined }, {
      policy: 'first',
      signal: undefined,
      containers: 'all',
      cooldownMs: 300_000,
      timeoutSeconds: 60,
      include: ['logs'],
      evidence: { retentionDays: 30, lock: 'none' },
    });
    t.same(third && { ...third, signal: undefined }, {
      policy: 'third',
      signal: undefined,
      containers: 'target',
      cooldownMs: 900_000,
      timeoutSeconds: 120,
      include: ['podSpec', 'logs'],
      evidence: { retentionDays: 365, lock: 'governance' },
    });
    const reversed = evaluatePolicies([...policies].reverse(), s);
    t.same(
      reversed.map((d) => d.policy),
      ['third', 'first'],
      'order follows the list given',
    );
  });

  t.test('returns nothing for no policies or no match', async (t) => {
    t.same(evaluatePolicies([], signal()), []);
    t.same(evaluatePolicies([policy({ rules: ['Other'] })], signal()), []);
  });
});
