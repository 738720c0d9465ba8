import t from 'tap';
import { canonicalJson, sha256Hex } from '../../src/core/canonical-json.js';
import { signalDigest, type Signal } from '../../src/core/signal.js';
import type { FalcoEvent } from '../../src/intake/falco-event.js';
import { normaliseFalco } from '../../src/intake/normalise-falco.js';
import { fixture, fixtureText } from '../helpers/fixtures.js';
import { thrown } from '../helpers/amber-errors.js';

const SHELL_FULL_ID = '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c';

/** The one signal of an event that must produce one. */
function only(event: FalcoEvent, rawText?: string): Signal {
  const result = normaliseFalco(event, rawText);
  if (result.signals.length !== 1 || result.ignored.length !== 0) {
    throw new Error(`expected one signal, got ${JSON.stringify({ signals: result.signals.length, ignored: result.ignored })}`);
  }
  return result.signals[0] as Signal;
}

const shell = (): FalcoEvent => fixture<FalcoEvent>('falco/terminal-shell.json');

t.test('a Falco http_output event', async (t) => {
  t.test('becomes one signal with its rule, priority, time, tags and summary', async (t) => {
    const event = shell();
    const s = only(event);
    t.equal(s.source, 'falco');
    t.equal(s.rule, 'Terminal shell in container');
    t.equal(s.priority, 'Notice');
    t.equal(s.time, '2025-03-14T09:26:41.512873014Z');
    t.same(s.tags, ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell']);
    t.match(s.summary, /^09:26:41\.512873014: Notice A shell was spawned in a container/);
    t.equal(s.deliveryKey, undefined, 'Falco itself sends no uuid');
    t.equal(s.raw, event);
    t.equal(s.rawText, undefined);
  });

  t.test('names the target from output_fields, preferring container.full_id over container.id', async (t) => {
    const s = only(shell());
    t.same(s.target, {
      namespace: 'shop',
      pod: 'checkout-7d9f8b6c5-x2x9q',
      podUID: '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0',
      container: 'checkout',
      containerID: SHELL_FULL_ID,
    });
  });

  t.test('falls back to the 12-character container.id when container.full_id is absent, null or <NA>', async (t) => {
    for (const full of [undefined, null, '<NA>', '']) {
      const event = shell();
      if (full === undefined) delete event.output_fields['container.full_id'];
      else event.output_fields['container.full_id'] = full;
      t.equal(only(event).target.containerID, '3f9c2a7b1d04', String(full));
    }
  });

  t.test('leaves out the pod uid and container name when Falco could not resolve them', async (t) => {
    const event = shell();
    delete event.output_fields['k8s.pod.uid'];
    event.output_fields['container.name'] = '<NA>';
    const s = only(event);
    t.same(s.target, { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', containerID: SHELL_FULL_ID });
    t.notOk('podUID' in s.target, 'no undefined keys');
    t.notOk('container' in s.target);
  });

  t.test('keeps output_fields as scalar fields, with their types, and nested values as JSON text', async (t) => {
    const event = shell();
    event.output_fields['proc.aname'] = ['bash', 'runc'];
    event.output_fields['custom.obj'] = { a: 1 };
    const s = only(event);
    t.equal(s.fields['proc.tty'], 34816);
    t.equal(s.fields['user.uid'], 0);
    t.equal(s.fields['user.loginuid'], -1);
    t.equal(s.fields['user.name'], 'root');
    t.equal(s.fields['container.image.repository'], 'ghcr.io/acme-shop/checkout');
    t.equal(s.fields['proc.aname'], '["bash","runc"]');
    t.equal(s.fields['custom.obj'], '{"a":1}');
    t.same(Object.keys(s.fields).sort(), Object.keys(event.output_fields).sort());
  });

  t.test('keeps a null output field as null', async (t) => {
    const s = only(fixture<FalcoEvent>('falco/reverse-shell.json'));
    t.equal(s.fields['evt.arg.flags'], null);
    t.ok('evt.arg.flags' in s.fields);
    t.equal(s.rule, 'Redirect STDOUT/STDIN to Network Connection in Container');
    t.equal(s.target.containerID, '9be41c07d2f3ec44e98b21093ed34a5386c4bcac8908ee9c50b489e1c30d644a');
  });

  t.test('has no tags and no summary when Falco sends none', async (t) => {
    const event = shell();
    delete event.tags;
    delete event.output;
    const s = only(event);
    t.same(s.tags, []);
    t.notOk('summary' in s);
  });
});

t.test('digests and kept bytes', async (t) => {
  t.test('without the received text, the digest is sha256 of the canonical JSON and no rawText is kept', async (t) => {
    const event = shell();
    const s = only(event);
    t.equal(signalDigest(s), sha256Hex(canonicalJson(event)));
    t.match(signalDigest(s), /^[0-9a-f]{64}$/);
    t.notOk('rawText' in s);
  });

  t.test('with the received text, the text is kept as is and the digest is its sha256', async (t) => {
    const text = fixtureText('falco/terminal-shell.json');
    const event = JSON.parse(text) as FalcoEvent;
    const s = only(event, text);
    t.equal(s.rawText, text);
    t.equal(signalDigest(s), sha256Hex(text));
    t.not(signalDigest(s), sha256Hex(canonicalJson(event)));
    t.match(s.rawText, /"evt\.time": 1741944401512873014/, 'nanosecond integers survive in the text');
  });

  t.test('the same event gives the same digest whatever its key order', async (t) => {
    const a = shell();
    const b = Object.fromEntries(Object.entries(shell()).reverse()) as unknown as FalcoEvent;
    t.equal(signalDigest(only(a)), signalDigest(only(b)));
    const c = shell();
    c.rule = 'Terminal shell in container (edited)';
    t.not(signalDigest(only(c)), signalDigest(only(a)));
  });
});

t.test("Falcosidekick's webhook payload", async (t) => {
  t.test('becomes a signal whose delivery key is the uuid', async (t) => {
    const event = fixture<FalcoEvent>('falco/sidekick-drop-execute.json');
    const s = only(event);
    t.equal(s.source, 'falco');
    t.equal(s.rule, 'Drop and execute new binary in container');
    t.equal(s.priority, 'Critical');
    t.equal(s.deliveryKey, 'falcosidekick:6f1c2b8e-3d4a-4e9b-a7c5-0d2f8e1b9c36');
    t.same(s.target, {
      namespace: 'shop',
      pod: 'cart-5f6d8b9c7-h4kzp',
      podUID: '8e2d4c6a-0f1b-4a3e-9d57-b6c8e1f2a3d4',
      container: 'cart',
      containerID: 'a71d3e9c0b580c8f75ba7299d4502ea6f3293c172951b209efca31cd8a18f747',
    });
  });

  t.test('accepts a time without fraction, as Go writes a whole second', async (t) => {
    const event = shell();
    event.time = '2025-03-14T09:45:00Z';
    t.equal(only(event).time, '2025-03-14T09:45:00Z');
  });
});

t.test('ignored events', async (t) => {
  t.test("ignores Falco's internal events with a reason", async (t) => {
    const result = normaliseFalco(fixture('falco/internal.json'));
    t.same(result, { signals: [], ignored: [{ index: 0, reason: 'Falco internal event' }] });
  });

  t.test('ignores any rule that starts with "Falco internal:"', async (t) => {
    const event = shell();
    event.rule = 'Falco internal: hot restart';
    t.same(normaliseFalco(event).ignored, [{ index: 0, reason: 'Falco internal event' }]);
    event.rule = 'Falco internals are fine'; // no colon: an ordinary rule
    t.equal(normaliseFalco(event).signals.length, 1);
  });

  t.test("ignores Falcosidekick's test event with a reason", async (t) => {
    const result = normaliseFalco(fixture('falco/sidekick-test.json'));
    t.same(result.signals, []);
    t.same(result.ignored, [{ index: 0, reason: "Falcosidekick's test event" }]);
  });

  t.test('ignores an event on the host', async (t) => {
    const result = normaliseFalco(fixture('falco/host-event.json'));
    t.same(result.signals, []);
    t.equal(result.ignored.length, 1);
    t.match(result.ignored[0]?.reason, /not from a container/);
  });

  t.test('ignores an event whose container.id is absent, null, blank or <NA>', async (t) => {
    for (const id of [undefined, null, '', '   ', '<NA>']) {
      const event = shell();
      if (id === undefined) delete event.output_fields['container.id'];
      else event.output_fields['container.id'] = id;
      const result = normaliseFalco(event);
      t.same(result.signals, [], String(id));
      t.match(result.ignored[0]?.reason, /not from a container \(container\.id is host or absent\)/, String(id));
    }
  });

  t.test('ignores a container event with no Kubernetes pod', async (t) => {
    for (const [key, value] of [
      ['k8s.ns.name', null],
      ['k8s.pod.name', null],
      ['k8s.pod.name', '<NA>'],
      ['k8s.ns.name', undefined],
    ] as const) {
      const event = shell();
      if (value === undefined) delete event.output_fields[key];
      else event.output_fields[key] = value;
      const result = normaliseFalco(event);
      t.same(result.signals, [], `${key}=${String(value)}`);
      t.match(result.ignored[0]?.reason, /no Kubernetes pod/, `${key}=${String(value)}`);
    }
  });
});

t.test('priorities', async (t) => {
  t.test('normalises every spelling to the capitalised Falco name', async (t) => {
    const cases: [string, string][] = [
      ['Emergency', 'Emergency'],
      ['Alert', 'Alert'],
      ['Critical', 'Critical'],
      ['Error', 'Error'],
      ['Warning', 'Warning'],
      ['Notice', 'Notice'],
      ['Informational', 'Informational'],
      ['Debug', 'Debug'],
      ['critical', 'Critical'],
      ['CRITICAL', 'Critical'],
      ['Info', 'Informational'],
      ['informational', 'Informational'],
      ['warn', 'Warning'],
      [' Warning ', 'Warning'],
      ['debug', 'Debug'],
    ];
    for (const [given, want] of cases) {
      const event = shell();
      event.priority = given;
      t.equal(only(event).priority, want, JSON.stringify(given));
    }
  });

  t.test('refuses a priority that is not one with INTAKE_INVALID_PAYLOAD at /priority', async (t) => {
    for (const bad of ['Loud', '', 'Crit', '7', 'Notice!']) {
      const event = shell();
      event.priority = bad;
      const err = thrown(() => normaliseFalco(event));
      t.equal(err.code, 'INTAKE_INVALID_PAYLOAD', JSON.stringify(bad));
      t.equal(err.details['path'], '/priority');
      t.match(String(err.details['problem']), /is not a Falco priority/);
    }
  });

  t.test('refuses a bad priority even on an event it would ignore', async (t) => {
    const event = fixture<FalcoEvent>('falco/internal.json');
    event.priority = 'Loud';
    t.equal(thrown(() => normaliseFalco(event)).code, 'INTAKE_INVALID_PAYLOAD');
  });
});

t.test('times', async (t) => {
  t.test('refuses a time that is not RFC 3339 with INTAKE_BAD_TIME naming the field', async (t) => {
    for (const bad of ['2025-03-14', '2025-03-14T09:26:41', 'yesterday', '1741944401', '2025-13-14T09:26:41Z', 'Fri, 14 Mar 2025 09:26:41 GMT', '']) {
      const event = shell();
      event.time = bad;
      const err = thrown(() => normaliseFalco(event));
      t.equal(err.code, 'INTAKE_BAD_TIME', JSON.stringify(bad));
      t.equal(err.details['field'], 'time');
      t.equal(err.details['value'], bad);
    }
  });
});

t.test('names in the target', async (t) => {
  t.test('refuses a pod name with a path in it', async (t) => {
    for (const pod of ['../etc', '..', 'a/b', '/etc/passwd', 'checkout/../../x']) {
      const event = shell();
      event.output_fields['k8s.pod.name'] = pod;
      const err = thrown(() => normaliseFalco(event));
      t.equal(err.code, 'INTAKE_BAD_NAME', pod);
      t.equal(err.details['field'], 'output_fields.k8s.pod.name');
      t.equal(err.details['value'], pod);
      t.match(err.message, /output_fields\.k8s\.pod\.name/);
    }
  });

  t.test('refuses pod names with upper case, unicode, spaces or control characters', async (t) => {
    for (const pod of ['Checkout-7d9f8b6c5-x2x9q', 'chéckout', 'check out', 'checkout\u0000', 'check\nout', 'ｃheckout', 'checkout_1', 'a'.repeat(254)]) {
      const event = shell();
      event.output_fields['k8s.pod.name'] = pod;
      const err = thrown(() => normaliseFalco(event));
      t.equal(err.code, 'INTAKE_BAD_NAME', JSON.stringify(pod));
      t.equal(err.details['field'], 'output_fields.k8s.pod.name');
    }
  });

  t.test('renders a hostile value printable and short in the error', async (t) => {
    const event = shell();
    event.output_fields['k8s.pod.name'] = 'x\u0000y\tz';
    t.equal(thrown(() => normaliseFalco(event)).details['value'], 'x\\u0000y\\tz');
    event.output_fields['k8s.pod.name'] = 'A'.repeat(300);
    t.equal(thrown(() => normaliseFalco(event)).details['value'], `${'A'.repeat(64)}…`);
  });

  t.test('names the field of every other bad name', async (t) => {
    const cases: [string, unknown, string][] = [
      ['k8s.ns.name', 'Shop', 'output_fields.k8s.ns.name'],
      ['k8s.ns.name', '../kube-system', 'output_fields.k8s.ns.name'],
      ['container.name', 'Checkout', 'output_fields.container.name'],
      ['container.name', 'a.b', 'output_fields.container.name'],
      ['k8s.pod.uid', 'not-a-uid', 'output_fields.k8s.pod.uid'],
      ['container.full_id', '../../../../etc', 'output_fields.container.full_id'],
      ['container.full_id', 'containerd://3f9c2a7b1d04', 'output_fields.container.full_id'],
    ];
    for (const [key, value, field] of cases) {
      const event = shell();
      event.output_fields[key] = value;
      const err = thrown(() => normaliseFalco(event));
      t.equal(err.code, 'INTAKE_BAD_NAME', `${key}=${String(value)}`);
      t.equal(err.details['field'], field);
    }
  });

  t.test('names container.id when it is the id in use and it is not hex', async (t) => {
    const event = shell();
    delete event.output_fields['container.full_id'];
    event.output_fields['container.id'] = '../etc';
    const err = thrown(() => normaliseFalco(event));
    t.equal(err.code, 'INTAKE_BAD_NAME');
    t.equal(err.details['field'], 'output_fields.container.id');
  });

  t.test('trims surrounding blanks from names before checking them', async (t) => {
    for (const pod of [' checkout-7d9f8b6c5-x2x9q ', 'checkout-7d9f8b6c5-x2x9q\n']) {
      const event = shell();
      event.output_fields['k8s.pod.name'] = pod;
      t.equal(only(event).target.pod, 'checkout-7d9f8b6c5-x2x9q', JSON.stringify(pod));
    }
  });
});
