import t from 'tap';
import { canonicalJson, sha256Hex } from '../../src/core/canonical-json.js';
import { signalDigest, type Signal } from '../../src/core/signal.js';
import type { AlertmanagerAlert, AlertmanagerWebhook } from '../../src/intake/alertmanager-webhook.js';
import type { FalcoEvent } from '../../src/intake/falco-event.js';
import { normaliseAlert } from '../../src/intake/normalise-alert.js';
import { DEFAULT_LABEL_KEYS, normaliseAlertmanager, type AlertmanagerLabelKeys } from '../../src/intake/normalise-alertmanager.js';
import { normaliseFalco } from '../../src/intake/normalise-falco.js';
import { fixture } from '../helpers/fixtures.js';
import { thrown } from '../helpers/amber-errors.js';

const firing = (): AlertmanagerWebhook => fixture<AlertmanagerWebhook>('alertmanager/firing.json');
const sidekick = (): AlertmanagerWebhook => fixture<AlertmanagerWebhook>('alertmanager/sidekick.json');

/** A webhook holding just these alerts, with the fixture's group context. */
function hookWith(...alerts: AlertmanagerAlert[]): AlertmanagerWebhook {
  return { ...firing(), alerts };
}

/** A firing alert from firing.json with its labels replaced. */
function alertWith(labels: Record<string, string>, over: Partial<AlertmanagerAlert> = {}): AlertmanagerAlert {
  const base = firing().alerts[0] as AlertmanagerAlert;
  return { ...base, labels, ...over };
}

function onlySignal(hook: AlertmanagerWebhook, keys?: AlertmanagerLabelKeys): Signal {
  const result = normaliseAlertmanager(hook, keys);
  if (result.signals.length !== 1) throw new Error(`expected one signal, got ${JSON.stringify(result)}`);
  return result.signals[0] as Signal;
}

t.test('a Prometheus alert group (firing.json)', async (t) => {
  t.test('gives one signal per firing alert and ignores the resolved one with a reason', async (t) => {
    const result = normaliseAlertmanager(firing());
    t.equal(result.signals.length, 2);
    t.same(result.ignored, [{ index: 2, reason: 'alert is resolved' }]);
    t.same(
      result.signals.map((s) => s.target.pod),
      ['checkout-7d9f8b6c5-x2x9q', 'cart-5f6d8b9c7-h4kzp'],
    );
  });

  t.test('reads rule, priority, time, target, summary and fields from the alert', async (t) => {
    const hook = firing();
    const [s] = normaliseAlertmanager(hook).signals;
    const alert = hook.alerts[0];
    t.equal(s?.source, 'alertmanager');
    t.equal(s?.rule, 'SuspectedCryptominingCPU', 'alertname, as there is no rule label');
    t.equal(s?.priority, 'Critical', 'from the severity label');
    t.equal(s?.time, '2025-03-14T08:57:30.318Z');
    t.same(s?.target, { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', container: 'checkout' });
    t.equal(s?.summary, 'Container checkout in shop/checkout-7d9f8b6c5-x2x9q has been pinned at its CPU limit for 30 minutes.');
    t.same(s?.fields, alert?.labels);
    t.same(s?.tags, []);
  });

  t.test('carries the group context in raw and digests it canonically', async (t) => {
    const hook = firing();
    const [s] = normaliseAlertmanager(hook).signals;
    const raw = { receiver: 'amber', groupKey: hook.groupKey, externalURL: 'https://alertmanager.example.com', alert: hook.alerts[0] };
    t.same(s?.raw, raw);
    t.equal(s && signalDigest(s), sha256Hex(canonicalJson(raw)));
    t.notOk(s && 'rawText' in s);
  });

  t.test('makes the delivery key from the fingerprint and startsAt', async (t) => {
    const [a, b] = normaliseAlertmanager(firing()).signals;
    t.equal(a?.deliveryKey, 'alertmanager:facc4b7fb18bfbac:2025-03-14T08:57:30.318Z');
    t.equal(b?.deliveryKey, 'alertmanager:20d8539d40059c1d:2025-03-14T09:02:30.318Z');
  });

  t.test('gives a re-delivery of the same alert the same delivery key and digest', async (t) => {
    const first = normaliseAlertmanager(firing()).signals[0];
    const again = normaliseAlertmanager(firing()).signals[0];
    t.equal(again?.deliveryKey, first?.deliveryKey);
    t.equal(again && signalDigest(again), first && signalDigest(first));
    const later = firing();
    const alert = later.alerts[0];
    if (alert) alert.startsAt = '2025-03-14T10:57:30.318Z';
    t.not(normaliseAlertmanager(later).signals[0]?.deliveryKey, first?.deliveryKey, 'a new startsAt is a new delivery');
  });

  t.test('uses the description when the alert has no summary', async (t) => {
    const alert = alertWith({ alertname: 'A', namespace: 'shop', pod: 'p' }, { annotations: { description: 'what happened' } });
    t.equal(onlySignal(hookWith(alert)).summary, 'what happened');
    const bare = alertWith({ alertname: 'A', namespace: 'shop', pod: 'p' }, { annotations: {} });
    t.notOk('summary' in onlySignal(hookWith(bare)));
  });
});

t.test("Falcosidekick's alerts through Alertmanager (sidekick.json)", async (t) => {
  t.test('reads the target from k8s_ns_name, k8s_pod_name, container_name and container_full_id', async (t) => {
    const result = normaliseAlertmanager(sidekick());
    t.equal(result.signals.length, 2);
    t.same(result.ignored, []);
    t.same(result.signals[0]?.target, {
      namespace: 'shop',
      pod: 'cart-5f6d8b9c7-h4kzp',
      container: 'cart',
      containerID: 'a71d3e9c0b580c8f75ba7299d4502ea6f3293c172951b209efca31cd8a18f747',
    });
    t.equal(result.signals[1]?.target.pod, 'cart-5f6d8b9c7-r8tnw');
  });

  t.test('falls back to the 12-character container_id without container_full_id', async (t) => {
    const hook = sidekick();
    const alert = hook.alerts[0];
    if (alert) delete alert.labels['container_full_id'];
    t.equal(normaliseAlertmanager(hook).signals[0]?.target.containerID, 'a71d3e9c0b58');
  });

  t.test('takes the rule from the rule label and the priority from the priority label', async (t) => {
    const [s] = normaliseAlertmanager(sidekick()).signals;
    t.equal(s?.rule, 'Drop and execute new binary in container');
    t.equal(s?.priority, 'Critical');
    t.equal(s?.summary, 'Drop and execute new binary in container');
    t.equal(s?.deliveryKey, 'alertmanager:1d066de4425387f9:2025-03-14T09:33:52.913224581Z');
  });

  t.test('splits the tags label on commas', async (t) => {
    const [s] = normaliseAlertmanager(sidekick()).signals;
    t.same(s?.tags, ['PCI_DSS_11.5.1', 'TA0003', 'container', 'maturity_stable', 'mitre_persistence', 'process']);
  });

  t.test('ignores an alert whose container_id is host', async (t) => {
    const alert = alertWith({ rule: 'Search Private Keys or Passwords', k8s_ns_name: 'shop', k8s_pod_name: 'p', container_id: 'host' });
    const result = normaliseAlertmanager(hookWith(alert));
    t.same(result.signals, []);
    t.equal(result.ignored.length, 1);
    t.match(result.ignored[0]?.reason, /not from a container \(container_id is host\)/);
  });
});

t.test('target labels', async (t) => {
  t.test('ignores an alert without a namespace or a pod label', async (t) => {
    const cases: Record<string, string>[] = [
      { alertname: 'A', namespace: 'shop' },
      { alertname: 'A', pod: 'p' },
      { alertname: 'A' },
      { alertname: 'A', namespace: 'shop', pod: '<NA>' },
      { alertname: 'A', namespace: '', pod: 'p' },
    ];
    for (const labels of cases) {
      const result = normaliseAlertmanager(hookWith(alertWith(labels)));
      t.same(result.signals, [], JSON.stringify(labels));
      t.same(result.ignored, [{ index: 0, reason: 'alert names no pod (no namespace/pod label)' }], JSON.stringify(labels));
    }
  });

  t.test('prefers the first label key listed when several are present', async (t) => {
    const s = onlySignal(
      hookWith(
        alertWith({ alertname: 'A', rule: 'R', namespace: 'one', k8s_ns_name: 'two', pod: 'p1', k8s_pod_name: 'p2', container: 'c1', container_name: 'c2' }),
      ),
    );
    t.same(s.target, { namespace: 'one', pod: 'p1', container: 'c1' });
    t.equal(s.rule, 'R', 'rule before alertname');
  });

  t.test('skips a <NA> label and uses the next key', async (t) => {
    const s = onlySignal(
      hookWith(alertWith({ alertname: 'A', namespace: '<NA>', k8s_ns_name: 'shop', pod: 'p', container_full_id: '<NA>', container_id: 'a71d3e9c0b58' })),
    );
    t.equal(s.target.namespace, 'shop');
    t.equal(s.target.containerID, 'a71d3e9c0b58');
  });

  t.test('reads custom label keys instead of the defaults', async (t) => {
    const keys: AlertmanagerLabelKeys = {
      namespace: ['exported_namespace'],
      pod: ['exported_pod'],
      container: ['ctr'],
      containerID: ['cid'],
      rule: ['check'],
      priority: ['level'],
    };
    const alert = alertWith({
      alertname: 'Ignored',
      namespace: 'monitoring',
      pod: 'prometheus-0',
      exported_namespace: 'shop',
      exported_pod: 'checkout-7d9f8b6c5-x2x9q',
      ctr: 'checkout',
      cid: '3f9c2a7b1d04',
      check: 'CustomCheck',
      level: 'warning',
      severity: 'critical',
    });
    const s = onlySignal(hookWith(alert), keys);
    t.same(s.target, { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', container: 'checkout', containerID: '3f9c2a7b1d04' });
    t.equal(s.rule, 'CustomCheck');
    t.equal(s.priority, 'Warning');
    const without = normaliseAlertmanager(hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'p' })), keys);
    t.same(without.signals, [], 'the default keys are not consulted');
    t.equal(without.ignored.length, 1);
  });

  t.test('names a rule-less alert "unnamed alert" and leaves out an unknown priority', async (t) => {
    const s = onlySignal(hookWith(alertWith({ namespace: 'shop', pod: 'p', severity: 'P1' })));
    t.equal(s.rule, 'unnamed alert');
    t.notOk('priority' in s);
  });

  t.test('reads Prometheus severity spellings as priorities', async (t) => {
    for (const [severity, want] of [
      ['critical', 'Critical'],
      ['warning', 'Warning'],
      ['info', 'Informational'],
      ['page', 'Critical'],
      ['low', 'Notice'],
    ] as const) {
      t.equal(onlySignal(hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'p', severity }))).priority, want, severity);
    }
  });
});

t.test('tags label', async (t) => {
  t.test('is split on commas with blanks trimmed and empty entries dropped', async (t) => {
    const s = onlySignal(hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'p', tags: ' a, b ,,c , ' })));
    t.same(s.tags, ['a', 'b', 'c']);
    const one = onlySignal(hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'p', tags: 'mitre_execution' })));
    t.same(one.tags, ['mitre_execution']);
    const blank = onlySignal(hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'p', tags: '' })));
    t.same(blank.tags, []);
  });
});

t.test('delivery keys without a fingerprint', async (t) => {
  t.test('are derived from the labels: stable, independent of label order, different for other labels', async (t) => {
    const labels = { alertname: 'A', namespace: 'shop', pod: 'p', container: 'c' };
    const noFp = (l: Record<string, string>): AlertmanagerAlert => {
      const a = alertWith(l);
      delete a.fingerprint;
      return a;
    };
    const key = onlySignal(hookWith(noFp(labels))).deliveryKey;
    t.match(key, /^alertmanager:[0-9a-f]{16}:2025-03-14T08:57:30\.318Z$/);
    t.equal(key, `alertmanager:${sha256Hex(canonicalJson(labels)).slice(0, 16)}:2025-03-14T08:57:30.318Z`);
    t.equal(onlySignal(hookWith(noFp(labels))).deliveryKey, key, 'same alert, same key');
    const reordered = Object.fromEntries(Object.entries(labels).reverse());
    t.equal(onlySignal(hookWith(noFp(reordered))).deliveryKey, key, 'label order does not matter');
    t.not(onlySignal(hookWith(noFp({ ...labels, pod: 'q' }))).deliveryKey, key, 'other labels, other key');
  });
});

t.test('bad input', async (t) => {
  t.test('refuses a pod label with a path in it, naming the label', async (t) => {
    for (const [label, pod] of [
      ['pod', '../etc'],
      ['pod', 'a/b'],
      ['k8s_pod_name', '../../var/run'],
      ['pod', 'Checkout'],
      ['pod', 'chéckout'],
    ] as const) {
      const err = thrown(() => normaliseAlertmanager(hookWith(alertWith({ alertname: 'A', namespace: 'shop', [label]: pod }))));
      t.equal(err.code, 'INTAKE_BAD_NAME', pod);
      t.equal(err.details['field'], `alerts/0/labels/${label}`);
      t.equal(err.details['value'], pod);
    }
  });

  t.test('refuses the whole batch when one alert is bad, naming its index', async (t) => {
    const good = alertWith({ alertname: 'A', namespace: 'shop', pod: 'p' });
    const bad = alertWith({ alertname: 'A', namespace: 'shop', pod: 'p', container_id: 'not-an-id' });
    const err = thrown(() => normaliseAlertmanager(hookWith(good, good, bad)));
    t.equal(err.code, 'INTAKE_BAD_NAME');
    t.equal(err.details['field'], 'alerts/2/labels/container_id');
  });

  t.test('names the namespace and container labels too', async (t) => {
    const ns = thrown(() => normaliseAlertmanager(hookWith(alertWith({ k8s_ns_name: 'Kube_System', pod: 'p' }))));
    t.equal(ns.details['field'], 'alerts/0/labels/k8s_ns_name');
    const ctr = thrown(() => normaliseAlertmanager(hookWith(alertWith({ namespace: 'shop', pod: 'p', container_name: 'a.b' }))));
    t.equal(ctr.details['field'], 'alerts/0/labels/container_name');
  });

  t.test('refuses a startsAt that is not RFC 3339, even on a resolved alert', async (t) => {
    for (const status of ['firing', 'resolved'] as const) {
      const err = thrown(() =>
        normaliseAlertmanager(
          hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'p' }), alertWith({ namespace: 'shop', pod: 'p' }, { status, startsAt: '14/03/2025' })),
        ),
      );
      t.equal(err.code, 'INTAKE_BAD_TIME', status);
      t.equal(err.details['field'], 'alerts/1/startsAt');
      t.equal(err.details['value'], '14/03/2025');
    }
  });

  t.test('accepts a kube-state-metrics style container_id with a runtime prefix', async (t) => {
    const id = '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c';
    const alert = alertWith({ alertname: 'A', namespace: 'shop', pod: 'p', container_id: `containerd://${id}` });
    let result: ReturnType<typeof normaliseAlertmanager> | undefined;
    try {
      result = normaliseAlertmanager(hookWith(alert));
    } catch {
      result = undefined;
    }
    t.equal(result?.signals[0]?.target.containerID, id, 'the prefix is stripped');
  });
});

t.test('normaliseAlert', async (t) => {
  t.test('detects a Falco event', async (t) => {
    const event = fixture<FalcoEvent>('falco/terminal-shell.json');
    const { source, result } = normaliseAlert(event);
    t.equal(source, 'falco');
    t.same(result, normaliseFalco(fixture<FalcoEvent>('falco/terminal-shell.json')));
    t.equal(result.signals[0]?.target.containerID, '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c');
  });

  t.test("detects Falcosidekick's payload and its ignored test event", async (t) => {
    t.equal(normaliseAlert(fixture('falco/sidekick-drop-execute.json')).result.signals[0]?.deliveryKey, 'falcosidekick:6f1c2b8e-3d4a-4e9b-a7c5-0d2f8e1b9c36');
    const test = normaliseAlert(fixture('falco/sidekick-test.json'));
    t.equal(test.source, 'falco');
    t.same(test.result.ignored, [{ index: 0, reason: "Falcosidekick's test event" }]);
  });

  t.test('detects an Alertmanager webhook', async (t) => {
    const { source, result } = normaliseAlert(fixture('alertmanager/firing.json'));
    t.equal(source, 'alertmanager');
    t.equal(result.signals.length, 2);
    t.same(result.ignored, [{ index: 2, reason: 'alert is resolved' }]);
    t.equal(normaliseAlert(fixture('alertmanager/sidekick.json')).result.signals[0]?.rule, 'Drop and execute new binary in container');
  });

  t.test('accepts the optional newer keys of both formats', async (t) => {
    const hook = { ...firing(), notification_reason: 'new alerts' };
    t.equal(normaliseAlert(hook).result.signals.length, 2);
    const event = { ...fixture<FalcoEvent>('falco/terminal-shell.json'), some_new_key: { x: 1 } };
    t.equal(normaliseAlert(event).result.signals.length, 1);
  });

  t.test('passes custom label keys to the Alertmanager normaliser', async (t) => {
    const keys: AlertmanagerLabelKeys = { ...DEFAULT_LABEL_KEYS, pod: ['exported_pod'] };
    const hook = hookWith(alertWith({ alertname: 'A', namespace: 'shop', pod: 'ignored', exported_pod: 'wanted' }));
    t.equal(normaliseAlert(hook, keys).result.signals[0]?.target.pod, 'wanted');
    t.equal(normaliseAlert(hook).result.signals[0]?.target.pod, 'ignored');
  });

  t.test('refuses a document that is neither format with INTAKE_INVALID_PAYLOAD', async (t) => {
    for (const doc of [{}, [], null, 'text', 42, { foo: 1 }, [fixture('falco/terminal-shell.json')], { version: '4' }]) {
      const err = thrown(() => normaliseAlert(doc));
      t.equal(err.code, 'INTAKE_INVALID_PAYLOAD', JSON.stringify(doc)?.slice(0, 40));
      t.equal(err.details['problem'], 'neither a Falco event nor an Alertmanager webhook');
    }
  });

  t.test('refuses a malformed Alertmanager webhook, naming the path', async (t) => {
    const v3 = { ...firing(), version: '3' };
    const err = thrown(() => normaliseAlert(v3));
    t.equal(err.code, 'INTAKE_INVALID_PAYLOAD');
    t.equal(err.details['format'], 'Alertmanager webhook');
    t.equal(err.details['path'], '/version');
    const noStart = firing();
    const alert = noStart.alerts[1] as unknown as Record<string, unknown>;
    delete alert['startsAt'];
    const missing = thrown(() => normaliseAlert(noStart));
    t.equal(missing.details['path'], '/alerts/1/startsAt');
    const notList = thrown(() => normaliseAlert({ ...firing(), alerts: {} }));
    t.equal(notList.details['path'], '/alerts');
    const tooMany = thrown(() => normaliseAlert({ ...firing(), alerts: Array.from({ length: 1001 }, () => firing().alerts[0]) }));
    t.equal(tooMany.details['path'], '/alerts');
    const badLabel = firing();
    (badLabel.alerts[0] as unknown as { labels: Record<string, unknown> }).labels['pod'] = 42;
    t.equal(thrown(() => normaliseAlert(badLabel)).details['path'], '/alerts/0/labels/pod');
  });

  t.test('refuses a malformed Falco event, naming the path', async (t) => {
    const noFields = fixture<Record<string, unknown>>('falco/terminal-shell.json');
    delete noFields['output_fields'];
    const err = thrown(() => normaliseAlert(noFields));
    t.equal(err.code, 'INTAKE_INVALID_PAYLOAD');
    t.equal(err.details['format'], 'Falco event');
    t.equal(err.details['path'], '/output_fields');
    t.match(String(err.details['problem']), /missing required key/);
    const numeric = { ...fixture<Record<string, unknown>>('falco/terminal-shell.json'), priority: 5 };
    t.equal(thrown(() => normaliseAlert(numeric)).details['path'], '/priority');
    const onlyFields = { output_fields: {} };
    t.equal(thrown(() => normaliseAlert(onlyFields)).details['format'], 'Falco event');
  });

  t.test('passes bad values inside a well-formed document through as the normaliser’s own errors', async (t) => {
    const event = fixture<FalcoEvent>('falco/terminal-shell.json');
    event.output_fields['k8s.pod.name'] = '../etc';
    const err = thrown(() => normaliseAlert(event));
    t.equal(err.code, 'INTAKE_BAD_NAME');
    t.equal(err.details['field'], 'output_fields.k8s.pod.name');
    const hook = firing();
    if (hook.alerts[0]) hook.alerts[0].startsAt = 'soon';
    t.equal(thrown(() => normaliseAlert(hook)).code, 'INTAKE_BAD_TIME');
  });
});
