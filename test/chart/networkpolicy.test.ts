// The chart fences by default (issue 17): what each port of each role admits, as rendered.
// A NetworkPolicy is an allow-list per rule of (ports × peers); these tests read the rendered rules
// and compute, per port name, which peers may reach it — so a rule that opens a port to any source
// (no `from`) or opens every port (no `ports`) fails here, whatever else it allows.
import t from 'tap';
import { agentName, find, one, podSpec, render, responderName, template, WEBHOOK, type K8sObject } from './chart.js';

interface Peer {
  readonly ipBlock?: { cidr: string; except?: string[] };
  readonly namespaceSelector?: { matchLabels?: Record<string, string> };
  readonly podSelector?: { matchLabels?: Record<string, string> };
}
interface Rule {
  readonly ports?: { protocol?: string; port?: string | number }[];
  readonly from?: Peer[];
}
interface PolicySpec {
  readonly podSelector: { matchLabels: Record<string, string> };
  readonly policyTypes: string[];
  readonly ingress: Rule[];
}

const spec = (objects: readonly K8sObject[], name: string): PolicySpec => one(objects, 'NetworkPolicy', name)['spec'] as PolicySpec;

/** Port name → the peers any rule admits to it. Throws on a rule that is open on ports or peers. */
function admitted(policy: PolicySpec): Map<string, Peer[]> {
  const byPort = new Map<string, Peer[]>();
  for (const rule of policy.ingress) {
    if (!rule.ports || rule.ports.length === 0) throw new Error(`a rule without ports opens every port: ${JSON.stringify(rule)}`);
    if (!rule.from || rule.from.length === 0) throw new Error(`a rule without from admits every source: ${JSON.stringify(rule)}`);
    for (const p of rule.ports) {
      if (typeof p.port !== 'string') throw new Error(`port ${String(p.port)}: ports are referenced by name, so they follow the pods' ports`);
      byPort.set(p.port, [...(byPort.get(p.port) ?? []), ...rule.from]);
    }
  }
  return byPort;
}

const ns = (name: string): Peer => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
const cidr = (c: string): Peer => ({ ipBlock: { cidr: c } });
const API_SERVER = ['10.0.0.10/32', '10.0.0.11/32', '2001:db8::/64'];

t.test(
  'the default install fences both roles: the webhook port from the API server, the intake from Falco and monitoring, metrics from monitoring',
  async (t) => {
    // The webhook is off by default (it needs the API server's client CA); with it on,
    // required-values.yaml (what `helm install` needs anyway) gives the API server's range.
    t.same([...admitted(spec(render(), responderName)).keys()], ['https'], 'the default install: the intake port only, fenced');
    const objects = render({ webhook: WEBHOOK });
    t.same(
      find(objects, 'NetworkPolicy')
        .map((p) => p.metadata.name)
        .sort(),
      [agentName, responderName],
    );

    const responder = spec(objects, responderName);
    t.same(responder.policyTypes, ['Ingress'], 'ingress only: egress stays open (values.yaml says why)');
    t.match(responder.podSelector.matchLabels, { 'app.kubernetes.io/component': 'responder', 'app.kubernetes.io/instance': 'amber' });
    const r = admitted(responder);
    t.same([...r.keys()].sort(), ['https', 'webhook'], 'the responder admits traffic on its two ports and nothing else');
    t.same(r.get('webhook'), [cidr('192.0.2.0/24')], 'webhook: the API server range of required-values.yaml, nothing else');
    t.same(r.get('https'), [ns('falco'), ns('monitoring'), ns('monitoring')], 'intake: Falco/Falcosidekick and Alertmanager; metrics: Prometheus');

    const agent = spec(objects, agentName);
    t.match(agent.podSelector.matchLabels, { 'app.kubernetes.io/component': 'agent' });
    const a = admitted(agent);
    t.same([...a.keys()], ['metrics'], 'the agent: its metrics port only');
    t.same(a.get('metrics'), [ns('monitoring')], 'from the monitoring namespace only');
  },
);

t.test('every port a policy names is a named port of the pods it selects', async (t) => {
  const objects = render({ webhook: WEBHOOK });
  for (const [policy, kind] of [
    [responderName, 'Deployment'],
    [agentName, 'DaemonSet'],
  ] as const) {
    const names = new Set(podSpec(one(objects, kind)).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const port of admitted(spec(objects, policy)).keys()) {
      t.ok(names.has(port), `${policy}: port ${port} is one of the pod's named ports (${[...names].join(', ')})`);
    }
  }
  const monitor = render({ metrics: { serviceMonitor: { enabled: true } } });
  const scraped = find(monitor, 'ServiceMonitor').map((m) => (m['spec'] as { endpoints: { port: string }[] }).endpoints[0]?.port);
  t.same(scraped.sort(), ['https', 'metrics'], 'Prometheus scrapes the ports the metrics rules open');
});

t.test('the webhook port admits exactly the configured API-server CIDRs and peers, and no intake peer', async (t) => {
  const konnectivity: Peer = { ...ns('kube-system'), podSelector: { matchLabels: { app: 'konnectivity-agent' } } };
  const objects = render({ webhook: WEBHOOK, networkPolicy: { webhook: { apiServerCIDRs: API_SERVER, from: [konnectivity] } } });
  const r = admitted(spec(objects, responderName));
  t.same(r.get('webhook'), [...API_SERVER.map(cidr), konnectivity], 'each CIDR an ipBlock, then the extra peers, in order');
  t.notOk(
    r.get('https')?.some((p) => p.ipBlock),
    'the API server CIDRs open the webhook port only, not the intake',
  );
  t.notOk(
    r.get('webhook')?.some((p) => JSON.stringify(p).includes('falco') || JSON.stringify(p).includes('monitoring')),
    'the alert senders and Prometheus cannot reach the webhook port',
  );

  const peersOnly = admitted(spec(render({ webhook: WEBHOOK, networkPolicy: { webhook: { apiServerCIDRs: [], from: [konnectivity] } } }), responderName));
  t.same(peersOnly.get('webhook'), [konnectivity], 'peers alone are enough (AKS and GKE through konnectivity)');
});

t.test('the intake port admits exactly the configured namespaces', async (t) => {
  const senders: Peer[] = [{ ...ns('security'), podSelector: { matchLabels: { 'app.kubernetes.io/name': 'falcosidekick' } } }, ns('observability')];
  const r = admitted(spec(render({ networkPolicy: { intake: { from: senders }, metrics: { from: [ns('observability')] } } }), responderName));
  t.same(r.get('https'), [...senders, ns('observability')], 'the given senders, then Prometheus; the defaults are replaced, not added to');
  t.notOk(JSON.stringify(r.get('https')).includes('"falco"'), 'the default falco namespace is gone');

  const closed = render({ webhook: WEBHOOK, networkPolicy: { intake: { from: [] }, metrics: { from: [] } } });
  const c = admitted(spec(closed, responderName));
  t.same([...c.keys()], ['webhook'], 'an empty intake.from closes the intake port (it never means "from anywhere")');
  t.same(spec(closed, agentName).ingress, [], 'an empty metrics.from closes the agent entirely (the kubelet probes still pass)');
});

t.test('an empty apiServerCIDRs with the webhook enabled fails the render, naming the value', async (t) => {
  for (const webhook of [{ apiServerCIDRs: [] }, { apiServerCIDRs: [], from: [] }]) {
    const r = template({ webhook: WEBHOOK, networkPolicy: { webhook } });
    t.not(r.status, 0, `${JSON.stringify(webhook)}: helm template fails`);
    t.equal(r.stdout, '', 'and nothing is rendered');
    t.match(r.stderr, /networkPolicy\.webhook\.apiServerCIDRs \(or networkPolicy\.webhook\.from\) is required while the webhook and networkPolicy are enabled/);
    t.match(r.stderr, /helm\/README\.md/, 'pointing to the per-provider values');
  }

  const noWebhook = render({ webhook: { enabled: false }, networkPolicy: { webhook: { apiServerCIDRs: [] } } });
  const r = admitted(spec(noWebhook, responderName));
  t.same([...r.keys()], ['https'], 'without the webhook nothing is required and no webhook rule is rendered');
  t.equal(find(noWebhook, 'ValidatingWebhookConfiguration').length, 0);

  const anywhere = admitted(spec(render({ webhook: WEBHOOK, networkPolicy: { webhook: { apiServerCIDRs: ['0.0.0.0/0', '::/0'] } } }), responderName));
  t.same(anywhere.get('webhook'), [cidr('0.0.0.0/0'), cidr('::/0')], 'any source must be asked for in so many words');
});

t.test('networkPolicy.enabled: false renders no NetworkPolicy and needs no API-server CIDRs', async (t) => {
  const objects = render({ webhook: WEBHOOK, networkPolicy: { enabled: false, webhook: { apiServerCIDRs: [] } } });
  t.equal(find(objects, 'NetworkPolicy').length, 0);
  t.equal(find(objects, 'ValidatingWebhookConfiguration').length, 1, 'the webhook itself is unaffected');
});

t.test('values.schema.json refuses a CIDR that is not one, an empty peer, and the old responder/agent keys', async (t) => {
  const r = template({
    networkPolicy: { webhook: { apiServerCIDRs: ['10.0.0.0'] }, intake: { from: [{}] }, responder: { from: [] } },
  });
  t.not(r.status, 0);
  t.match(r.stderr, /'\/networkPolicy\/webhook\/apiServerCIDRs\/0': '10\.0\.0\.0' does not match pattern/, 'a CIDR without its prefix length');
  t.match(r.stderr, /'\/networkPolicy\/intake\/from\/0': minProperties/, 'an empty peer (the API server would refuse it)');
  t.match(r.stderr, /additional properties 'responder' not allowed/, 'networkPolicy.responder (before issue 17) is refused, not ignored');
});
