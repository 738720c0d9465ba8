import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseDuration } from '../../src/core/duration.js';
import type { Signal } from '../../src/core/signal.js';
import type { CompiledPolicy } from '../../src/policy/compile-policy.js';
import { evaluatePolicies } from '../../src/policy/evaluate-policies.js';
import { loadPolicies, parsePolicies } from '../../src/policy/load-policies.js';
import { rejected, thrown } from '../helpers/amber-errors.js';

const SHIPPED = fileURLToPath(new URL('../../policies', import.meta.url));

/** A valid policy document; `spec` lines are indented under `spec:`. */
function doc(name: string, specExtra = '', matchExtra = ''): string {
  return [
    'apiVersion: forensics.amber.dev/v1alpha1',
    'kind: CapturePolicy',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  description: Policy ${name}.`,
    '  match:',
    '    sources: [falco]',
    matchExtra,
    specExtra,
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

function parseOne(text: string, file = 'policies/test.yaml'): CompiledPolicy[] {
  return parsePolicies([{ file, text }]);
}

/** The AmberError fn throws; anything else (or nothing) fails the test. */
function signal(rule: string, source: Signal['source'] = 'falco', priority = 'Critical'): Signal {
  return {
    source,
    rule,
    priority,
    time: '2025-03-14T09:26:41.512873014Z',
    tags: [],
    fields: {},
    target: { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', container: 'checkout' },
    raw: {},
  };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-policies-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the shipped policies/ set', async (t) => {
  const policies = await loadPolicies(SHIPPED);

  t.test('loads, with unique names, a description each and parsed durations', async (t) => {
    t.ok(policies.length >= 6, `${policies.length} policies`);
    const names = policies.map((p) => p.name);
    t.equal(new Set(names).size, names.length, 'names are unique');
    for (const name of [
      'interactive-shell',
      'untrusted-execution',
      'reverse-shell',
      'cryptomining',
      'credential-search',
      'container-escape',
      'prometheus-cryptomining-cpu',
    ]) {
      t.ok(names.includes(name), `has ${name}`);
    }
    for (const p of policies) {
      t.ok(p.description.trim().length > 20, `${p.name} has a description`);
      t.ok(p.capture.cooldownMs > 0, `${p.name} has a cooldown`);
      t.match(p.file, /^.*policies[/\\][a-z0-9-]+\.ya?ml$/, `${p.name} names its file`);
    }
  });

  t.test('lists policies sorted by file name, as loaded', async (t) => {
    const files = policies.map((p) => p.file);
    t.same(files, [...files].sort());
  });

  t.test('reads the capture and evidence settings written in the files', async (t) => {
    const shell = policies.find((p) => p.name === 'interactive-shell');
    t.ok(shell);
    t.equal(shell?.capture.cooldownMs, 30 * 60_000);
    t.equal(shell?.evidence.lock, 'governance');
    t.equal(shell?.evidence.retentionDays, 90);
    const escape = policies.find((p) => p.name === 'container-escape');
    t.equal(escape?.capture.containers, 'all');
    t.equal(escape?.capture.timeoutSeconds, 300);
  });

  t.test('covers the real Falco rules the issue asks for, and an Alertmanager alert', async (t) => {
    for (const rule of [
      'Terminal shell in container',
      'Drop and execute new binary in container',
      'Redirect STDOUT/STDIN to Network Connection in Container',
      'Fileless execution via memfd_create',
      'Detect crypto miners using the Stratum protocol',
      'Search Private Keys or Passwords',
      'Debugfs Launched in Privileged Container',
    ]) {
      t.ok(evaluatePolicies(policies, signal(rule)).length >= 1, `a policy captures "${rule}"`);
    }
    const prometheus = { ...signal('SuspectedCryptominingCPU', 'alertmanager'), fields: { alertname: 'SuspectedCryptominingCPU', container: 'checkout' } };
    t.ok(
      evaluatePolicies(policies, prometheus).some((d) => d.policy === 'prometheus-cryptomining-cpu'),
      'the Prometheus example captures its alert',
    );
    t.same(evaluatePolicies(policies, signal('Some rule no policy names')), [], 'an unknown rule matches nothing');
  });
});

t.test('load-time errors name the file and the path', async (t) => {
  t.test('refuses an unknown key with POLICY_SCHEMA at its own path', async (t) => {
    const err = thrown(() => parseOne(doc('typo', '', '    sorces: [falco]'), 'policies/typo.yaml'));
    t.equal(err.code, 'POLICY_SCHEMA');
    t.equal(err.details['file'], 'policies/typo.yaml');
    t.equal(err.details['path'], '/spec/match/sorces');
    t.equal(err.details['problem'], "unknown key 'sorces'");
    t.match(err.message, /policies\/typo\.yaml/);
    t.match(err.message, /\/spec\/match\/sorces/);
  });

  t.test('refuses unknown keys at other depths', async (t) => {
    const top = thrown(() => parseOne(`${doc('x')}\nstatus: {}\n`));
    t.equal(top.code, 'POLICY_SCHEMA');
    t.equal(top.details['path'], '/status');
    const spec = thrown(() => parseOne(doc('x', '  capture:\n    cooldwn: 5m')));
    t.equal(spec.code, 'POLICY_SCHEMA');
    t.equal(spec.details['path'], '/spec/capture/cooldwn');
    const field = thrown(() => parseOne(doc('x', '', '    fields:\n      - { key: a, op: in, values: [b], vaules: [c] }')));
    t.equal(field.code, 'POLICY_SCHEMA');
    t.equal(field.details['path'], '/spec/match/fields/0/vaules');
    const tags = thrown(() => parseOne(doc('x', '', '    tags: { one: [a] }')));
    t.equal(tags.code, 'POLICY_SCHEMA');
    t.equal(tags.details['path'], '/spec/match/tags/one');
  });

  t.test('refuses a missing required key, a wrong kind and a bad choice with POLICY_SCHEMA', async (t) => {
    const noDesc = thrown(() => parseOne(doc('x').replace('  description: Policy x.\n', '')));
    t.equal(noDesc.code, 'POLICY_SCHEMA');
    t.equal(noDesc.details['path'], '/spec/description');
    t.match(String(noDesc.details['problem']), /missing required key 'description'/);
    const kind = thrown(() => parseOne(doc('x').replace('kind: CapturePolicy', 'kind: Policy')));
    t.equal(kind.code, 'POLICY_SCHEMA');
    t.equal(kind.details['path'], '/kind');
    const lock = thrown(() => parseOne(doc('x', '  evidence:\n    lock: forever')));
    t.equal(lock.code, 'POLICY_SCHEMA');
    t.equal(lock.details['path'], '/spec/evidence/lock');
    t.match(String(lock.details['problem']), /"compliance", "governance", "none"/);
    const source = thrown(() => parseOne(doc('x').replace('sources: [falco]', 'sources: [falco, syslog]')));
    t.equal(source.code, 'POLICY_SCHEMA');
    t.equal(source.details['path'], '/spec/match/sources/1');
    const op = thrown(() => parseOne(doc('x', '', '    fields:\n      - { key: a, op: contains, values: [b] }')));
    t.equal(op.code, 'POLICY_SCHEMA');
    t.equal(op.details['path'], '/spec/match/fields/0/op');
    const timeout = thrown(() => parseOne(doc('x', '  capture:\n    timeoutSeconds: 0')));
    t.equal(timeout.code, 'POLICY_SCHEMA');
    t.equal(timeout.details['path'], '/spec/capture/timeoutSeconds');
  });

  t.test('refuses a policy name that is not a DNS label', async (t) => {
    for (const name of ['Interactive-Shell', 'shell_policy', '"../escape"', 'a'.repeat(64)]) {
      const err = thrown(() => parseOne(doc(name)));
      t.equal(err.code, 'POLICY_SCHEMA');
      t.equal(err.details['path'], '/metadata/name', name);
    }
  });

  t.test('refuses a namespace list entry that is not a namespace name', async (t) => {
    const err = thrown(() => parseOne(doc('x', '', '    namespaces: { exclude: [kube-system, Kube_System] }')));
    t.equal(err.code, 'POLICY_SCHEMA');
    t.equal(err.details['path'], '/spec/match/namespaces/exclude/1');
    t.equal(err.details['policy'], 'x');
  });

  t.test('refuses an empty sources list and an empty rules list', async (t) => {
    const sources = thrown(() => parseOne(doc('x').replace('sources: [falco]', 'sources: []')));
    t.equal(sources.code, 'POLICY_SCHEMA');
    t.equal(sources.details['path'], '/spec/match/sources');
    const rules = thrown(() => parseOne(doc('x', '', '    rules: []')));
    t.equal(rules.code, 'POLICY_SCHEMA');
    t.equal(rules.details['path'], '/spec/match/rules');
  });

  t.test('refuses a rule regex that does not compile with POLICY_BAD_REGEX', async (t) => {
    const err = thrown(() => parseOne(doc('bad-regex', '', '    rules: ["Terminal shell in container", "/([/"]'), 'p/bad-regex.yaml'));
    t.equal(err.code, 'POLICY_BAD_REGEX');
    t.equal(err.details['file'], 'p/bad-regex.yaml');
    t.equal(err.details['policy'], 'bad-regex');
    t.equal(err.details['path'], '/spec/match/rules/1');
    t.equal(err.details['value'], '/([/');
    t.type(err.cause, SyntaxError, 'keeps the RegExp error as the cause');
    t.match(err.message, /p\/bad-regex\.yaml/);
  });

  t.test('refuses a field regex that does not compile, with or without slashes', async (t) => {
    const bare = thrown(() => parseOne(doc('x', '', '    fields:\n      - { key: proc.name, op: regex, values: [ok, "(unclosed"] }')));
    t.equal(bare.code, 'POLICY_BAD_REGEX');
    t.equal(bare.details['path'], '/spec/match/fields/0');
    t.match(bare.details['value'], '(unclosed');
    const slashed = thrown(() => parseOne(doc('x', '', '    fields:\n      - { key: proc.name, op: regex, values: ["/[z-a]/i"] }')));
    t.equal(slashed.code, 'POLICY_BAD_REGEX');
    t.equal(slashed.details['value'], '/[z-a]/i');
  });

  t.test('refuses a duration it cannot read with POLICY_BAD_DURATION', async (t) => {
    for (const bad of ['15 minutes', '1.5h', '"15"', 'soon']) {
      const err = thrown(() => parseOne(doc('slow', `  capture:\n    cooldown: ${bad}`), 'p/slow.yaml'));
      t.equal(err.code, 'POLICY_BAD_DURATION');
      t.equal(err.details['file'], 'p/slow.yaml');
      t.equal(err.details['path'], '/spec/capture/cooldown');
      t.equal(err.details['value'], bad.replaceAll('"', ''));
    }
  });

  t.test('refuses a priority comparison it cannot read with POLICY_BAD_PRIORITY', async (t) => {
    for (const bad of ['>=Loud', '=>Notice', '>>Notice', '!=Notice', '>=', 'Notice or worse', '5']) {
      const err = thrown(() => parseOne(doc('prio', '', `    priority: "${bad}"`), 'p/prio.yaml'));
      t.equal(err.code, 'POLICY_BAD_PRIORITY');
      t.equal(err.details['path'], '/spec/match/priority', bad);
      t.equal(err.details['value'], bad);
      t.equal(err.details['file'], 'p/prio.yaml');
    }
  });

  t.test('refuses a field op other than exists without values', async (t) => {
    for (const op of ['in', 'notIn', 'equals', 'prefix', 'regex']) {
      const missing = thrown(() => parseOne(doc('x', '', `    fields:\n      - { key: a, op: ${op} }`)));
      t.equal(missing.code, 'POLICY_SCHEMA');
      t.equal(missing.details['path'], '/spec/match/fields/0', op);
      t.match(String(missing.details['problem']), new RegExp(`'${op}' needs a non-empty values list`));
      const empty = thrown(() => parseOne(doc('x', '', `    fields:\n      - { key: b, op: in, values: [x] }\n      - { key: a, op: ${op}, values: [] }`)));
      t.equal(empty.code, 'POLICY_SCHEMA');
      t.equal(empty.details['path'], '/spec/match/fields/1', `${op} with []`);
    }
    t.equal(parseOne(doc('x', '', '    fields:\n      - { key: a, op: exists }')).length, 1, 'exists needs none');
  });

  t.test('refuses equals with more than one value', async (t) => {
    const err = thrown(() => parseOne(doc('x', '', '    fields:\n      - { key: user.name, op: equals, values: [root, admin] }')));
    t.equal(err.code, 'POLICY_SCHEMA');
    t.equal(err.details['path'], '/spec/match/fields/0');
    t.match(String(err.details['problem']), /exactly one value/);
  });

  t.test('refuses two policies with one name, naming both files', async (t) => {
    const err = thrown(() =>
      parsePolicies([
        { file: 'p/a.yaml', text: doc('same') },
        { file: 'p/b.yaml', text: doc('other') },
        { file: 'p/c.yaml', text: doc('same') },
      ]),
    );
    t.equal(err.code, 'POLICY_DUPLICATE_NAME');
    t.equal(err.details['name'], 'same');
    t.equal(err.details['file'], 'p/c.yaml');
    t.equal(err.details['firstIn'], 'p/a.yaml');
    const inOne = thrown(() => parseOne(`${doc('twice')}\n---\n${doc('twice')}`, 'p/one.yaml'));
    t.equal(inOne.code, 'POLICY_DUPLICATE_NAME');
    t.equal(inOne.details['firstIn'], 'p/one.yaml');
  });

  t.test('refuses text that is not YAML with POLICY_YAML and the line', async (t) => {
    const err = thrown(() => parseOne(`${doc('x')}\n    rules: [unclosed\n`, 'p/broken.yaml'));
    t.equal(err.code, 'POLICY_YAML');
    t.equal(err.details['file'], 'p/broken.yaml');
    t.equal(err.details['document'], 0);
    t.type(err.details['line'], 'number');
    t.type(err.details['problem'], 'string');
    const dupKey = thrown(() => parseOne(doc('x', '', '    sources: [alertmanager]')));
    t.equal(dupKey.code, 'POLICY_YAML');
    t.match(String(dupKey.details['problem']), /unique/);
    t.equal(dupKey.details['line'], 9);
  });

  t.test('names the document of a multi-document file that fails', async (t) => {
    const err = thrown(() => parseOne(`${doc('one')}\n---\n${doc('two', '', '    sorces: [x]')}`, 'p/multi.yaml'));
    t.equal(err.code, 'POLICY_SCHEMA');
    t.equal(err.details['document'], 1);
    t.equal(err.details['path'], '/spec/match/sorces');
    const yamlErr = thrown(() => parseOne(`${doc('one')}\n---\nkey: [\n`));
    t.equal(yamlErr.code, 'POLICY_YAML');
    t.equal(yamlErr.details['document'], 1);
  });

  t.test('refuses a document that is not a mapping', async (t) => {
    const err = thrown(() => parseOne('just a string\n'));
    t.equal(err.code, 'POLICY_SCHEMA');
    t.equal(err.details['path'], '/');
    const list = thrown(() => parseOne('- a\n- b\n'));
    t.equal(list.code, 'POLICY_SCHEMA');
    t.equal(list.details['path'], '/');
  });
});

t.test('multi-document files', async (t) => {
  t.test('load every document in order and skip empty ones', async (t) => {
    const policies = parseOne(`---\n${doc('first')}\n---\n${doc('second')}\n---\n# only a comment\n---\n`, 'p/many.yaml');
    t.same(
      policies.map((p) => p.name),
      ['first', 'second'],
    );
    t.same(
      policies.map((p) => p.file),
      ['p/many.yaml', 'p/many.yaml'],
    );
  });

  t.test('keep the order of the sources given', async (t) => {
    const policies = parsePolicies([
      { file: 'z.yaml', text: doc('zed') },
      { file: 'a.yaml', text: `${doc('alpha')}\n---\n${doc('beta')}` },
    ]);
    t.same(
      policies.map((p) => p.name),
      ['zed', 'alpha', 'beta'],
    );
  });

  t.test('give an empty set for sources with no documents', async (t) => {
    t.same(
      parsePolicies([
        { file: 'empty.yaml', text: '' },
        { file: 'c.yaml', text: '# nothing\n' },
      ]),
      [],
    );
  });
});

t.test('defaults fill what a policy leaves out', async (t) => {
  const [p] = parseOne(doc('minimal'), 'p/minimal.yaml');
  t.ok(p);
  if (!p) return;
  t.equal(p.name, 'minimal');
  t.equal(p.description, 'Policy minimal.');
  t.equal(p.file, 'p/minimal.yaml');
  t.equal(p.disabled, false);
  t.same([...p.sources], ['falco']);
  t.same(p.conditions, [], 'no conditions besides sources');
  t.same(p.capture, { containers: 'target', cooldownMs: 15 * 60_000, timeoutSeconds: 120, include: ['podSpec', 'logs'] });
  t.same(p.evidence, { retentionDays: 365, lock: 'compliance' });
});

t.test('written settings override the defaults', async (t) => {
  const [p] = parseOne(
    doc(
      'custom',
      '  disabled: true\n  capture:\n    containers: all\n    cooldown: 1h30m\n    timeoutSeconds: 45\n    include: []\n  evidence:\n    retentionDays: 0\n    lock: none',
    ),
  );
  t.equal(p?.disabled, true);
  t.same(p?.capture, { containers: 'all', cooldownMs: parseDuration('1h30m'), timeoutSeconds: 45, include: [] });
  t.equal(p?.capture.cooldownMs, 5_400_000);
  t.same(p?.evidence, { retentionDays: 0, lock: 'none' });
});

t.test('the default include list is a fresh copy for every policy', async (t) => {
  const [a, b] = parsePolicies([{ file: 'a.yaml', text: `${doc('a')}\n---\n${doc('b')}` }]);
  t.not(a?.capture.include, b?.capture.include);
  t.same(a?.capture.include, ['podSpec', 'logs']);
});

t.test('loadPolicies over a directory', async (t) => {
  t.test('reads .yaml and .yml files sorted by name and ignores the rest', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'b.yml'), doc('from-b'));
    await writeFile(join(dir, 'a.yaml'), `${doc('from-a1')}\n---\n${doc('from-a2')}`);
    await writeFile(join(dir, 'c.yaml.bak'), doc('backup'));
    await writeFile(join(dir, 'README.md'), '# not a policy\n');
    await writeFile(join(dir, 'notes.txt'), 'sorces: broken');
    const policies = await loadPolicies(dir);
    t.same(
      policies.map((p) => p.name),
      ['from-a1', 'from-a2', 'from-b'],
    );
    t.same(
      policies.map((p) => p.file),
      [join(dir, 'a.yaml'), join(dir, 'a.yaml'), join(dir, 'b.yml')],
    );
  });

  t.test('names the file path inside the directory in errors', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'ok.yaml'), doc('ok'));
    await writeFile(join(dir, 'typo.yaml'), doc('typo', '', '    sorces: [falco]'));
    const err = await rejected(loadPolicies(dir));
    t.equal(err.code, 'POLICY_SCHEMA');
    t.equal(err.details['file'], join(dir, 'typo.yaml'));
    t.equal(err.details['path'], '/spec/match/sorces');
    t.ok(err.message.includes(join(dir, 'typo.yaml')), 'the message names the file');
  });

  t.test('finds duplicate names across files', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, '10-first.yaml'), doc('shell'));
    await writeFile(join(dir, '20-second.yaml'), doc('shell'));
    const err = await rejected(loadPolicies(dir));
    t.equal(err.code, 'POLICY_DUPLICATE_NAME');
    t.equal(err.details['file'], join(dir, '20-second.yaml'));
    t.equal(err.details['firstIn'], join(dir, '10-first.yaml'));
  });

  t.test('refuses an empty directory with POLICY_EMPTY_SET', async (t) => {
    const dir = await tempDir(t);
    const err = await rejected(loadPolicies(dir));
    t.equal(err.code, 'POLICY_EMPTY_SET');
    t.equal(err.details['dir'], dir);
  });

  t.test('refuses a directory whose files hold no policy with POLICY_EMPTY_SET', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'empty.yaml'), '---\n# nothing here yet\n');
    await writeFile(join(dir, 'other.json'), JSON.stringify({ kind: 'CapturePolicy' }));
    const err = await rejected(loadPolicies(dir));
    t.equal(err.code, 'POLICY_EMPTY_SET');
    t.equal(err.details['dir'], dir);
  });

  t.test('refuses a directory that does not exist or is a file with POLICY_DIR_UNREADABLE', async (t) => {
    const dir = await tempDir(t);
    const missing = join(dir, 'no-such-dir');
    const err = await rejected(loadPolicies(missing));
    t.equal(err.code, 'POLICY_DIR_UNREADABLE');
    t.equal(err.details['dir'], missing);
    t.match((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    const file = join(dir, 'a-file.yaml');
    await writeFile(file, doc('x'));
    const notDir = await rejected(loadPolicies(file));
    t.equal(notDir.code, 'POLICY_DIR_UNREADABLE');
    t.equal(notDir.details['dir'], file);
  });

  t.test('reports an unreadable policy file with POLICY_DIR_UNREADABLE naming the file', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.yaml'), doc('a'));
    await mkdir(join(dir, 'b.yaml')); // a directory with a policy-like name: readFile fails with EISDIR
    const err = await rejected(loadPolicies(dir));
    t.equal(err.code, 'POLICY_DIR_UNREADABLE');
    t.equal(err.details['dir'], dir);
    t.equal(err.details['file'], join(dir, 'b.yaml'));
    t.equal((err.cause as NodeJS.ErrnoException).code, 'EISDIR');
    t.ok(err.message.includes(join(dir, 'b.yaml')), 'the message names the file');
  });
});

t.test('evidence.encryption: recipients checked at load, a configured default, and an explicit opt-out', async (t) => {
  const team = 'age1g6w8gl22nx6vgf6t58jndq762l49lz5yg2kqhlxlzam8evnchu5q8uw8c0';
  const escrow = 'age1pq9a94q5gp4edxxmy7tdg3qa4xcxt5rcg65e3wznzv2q5lmx5ykqsefx4m';
  const [own] = parseOne(doc('own', `  evidence:\n    encryption:\n      recipients: [${team}]`));
  t.same(own?.evidence.encryption, { recipients: [team] });

  const text = `${doc('plain')}\n---\n${doc('opted-out', '  evidence:\n    encryption:\n      recipients: []')}\n---\n${doc('own', `  evidence:\n    encryption:\n      recipients: [${team}]`)}`;
  const [plain, optedOut, kept] = parsePolicies([{ file: 'p.yaml', text }], { recipients: [escrow] });
  t.same(plain?.evidence.encryption, { recipients: [escrow] }, 'no word in the policy: the configured default');
  t.equal(optedOut?.evidence.encryption, undefined, 'recipients: [] opts out of the default');
  t.same(kept?.evidence.encryption, { recipients: [team] }, "the policy's own recipients win");

  const typo = `${team.slice(0, -1)}q`;
  const e = thrown(() => parseOne(doc('typo', `  evidence:\n    encryption:\n      recipients: [${team}, ${typo}]`)));
  t.equal(e.code, 'POLICY_SCHEMA');
  t.match(e.details, { path: '/spec/evidence/encryption/recipients/1', problem: /is not an age recipient \(age1…\): checksum mismatch/ });
  const ssh = thrown(() => parseOne(doc('ssh', '  evidence:\n    encryption:\n      recipients: [ssh-ed25519 AAAA]')));
  t.match(ssh.details, { path: '/spec/evidence/encryption/recipients/0' });
});
