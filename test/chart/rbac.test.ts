// The chart's RBAC is the contract of the issue: least privilege, written down here once. The test
// reads the rendered Roles, ClusterRoles and their bindings and computes what each ServiceAccount
// may do, so a rule added, widened or lost anywhere fails here.
import t from 'tap';
import { find, NAMESPACE, render, type K8sObject } from './chart.js';

interface Rule {
  readonly apiGroups?: string[];
  readonly resources?: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
  readonly nonResourceURLs?: string[];
}

type Scope = 'cluster' | 'namespace';
interface Permission {
  readonly scope: Scope;
  readonly apiGroup: string;
  readonly resource: string;
  readonly verbs: readonly string[];
}

const CAPTURES = 'forensics.amber.dev';

/** What each role needs (the list): missing any of it fails. */
const REQUIRED: Record<'agent' | 'responder', readonly Permission[]> = {
  agent: [
    { scope: 'cluster', apiGroup: '', resource: 'nodes/checkpoint', verbs: ['create'] },
    { scope: 'cluster', apiGroup: '', resource: 'nodes', verbs: ['get'] },
    { scope: 'cluster', apiGroup: '', resource: 'pods', verbs: ['get'] },
    { scope: 'cluster', apiGroup: '', resource: 'pods/log', verbs: ['get'] },
    { scope: 'namespace', apiGroup: CAPTURES, resource: 'captures', verbs: ['get', 'list', 'watch', 'update', 'patch'] },
    { scope: 'namespace', apiGroup: CAPTURES, resource: 'captures/status', verbs: ['get', 'update', 'patch'] },
    // kubernetes-event notifications: an Event on the Capture, in amber's namespace (kube/capture-events.ts)
    { scope: 'namespace', apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'] },
  ],
  responder: [
    { scope: 'cluster', apiGroup: '', resource: 'pods', verbs: ['get', 'list'] },
    // `update`: a join rewrites the Capture it joins (queue/kube/join-capture-resource.ts), and the
    // budgets relabel a new Capture `counted` or `exceeded` once decided (queue/kube/kube-budgets.ts).
    { scope: 'namespace', apiGroup: CAPTURES, resource: 'captures', verbs: ['create', 'get', 'list', 'watch', 'update'] },
    // The issue listed `get`; `update` too, because the API server drops .status on create, so the
    // responder writes a new Capture's first status (Pending, or Failed when the target cannot be
    // placed), and it fails Captures no agent took (src/kube/kube-queue.ts: writeStatus; src/kube/fail-unclaimed.ts).
    { scope: 'namespace', apiGroup: CAPTURES, resource: 'captures/status', verbs: ['get', 'update'] },
  ],
};

interface Grant extends Permission {
  readonly role: string;
  readonly resourceNames?: readonly string[];
}

/** Every (scope, group, resource, verbs) the ServiceAccount gets through the rendered bindings. */
function grantsOf(objects: readonly K8sObject[], serviceAccount: string): Grant[] {
  const grants: Grant[] = [];
  for (const binding of [...find(objects, 'ClusterRoleBinding'), ...find(objects, 'RoleBinding')]) {
    const subjects = (binding['subjects'] ?? []) as { kind: string; name: string; namespace?: string }[];
    if (!subjects.some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && s.namespace === NAMESPACE)) continue;
    const ref = binding['roleRef'] as { kind: string; name: string };
    const role = find(objects, ref.kind, ref.name).find((r) => ref.kind === 'ClusterRole' || r.metadata.namespace === binding.metadata.namespace);
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to ${ref.kind} ${ref.name}, which the chart does not render`);
    // A RoleBinding to a ClusterRole grants it in the binding's namespace only.
    const scope: Scope = binding.kind === 'ClusterRoleBinding' ? 'cluster' : 'namespace';
    for (const rule of (role['rules'] ?? []) as Rule[]) {
      for (const apiGroup of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          grants.push({
            scope,
            apiGroup,
            resource,
            verbs: rule.verbs,
            role: `${role.kind}/${role.metadata.name}`,
            ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}),
          });
        }
      }
    }
  }
  return grants;
}

function covers(grants: readonly Grant[], want: Permission): string[] {
  const matching = grants.filter((g) => g.scope === want.scope && g.apiGroup === want.apiGroup && g.resource === want.resource && !g.resourceNames);
  return want.verbs.filter((v) => !matching.some((g) => g.verbs.includes(v)));
}

function allowedBy(list: readonly Permission[], g: Grant): boolean {
  return list.some((p) => p.scope === g.scope && p.apiGroup === g.apiGroup && p.resource === g.resource && g.verbs.every((v) => p.verbs.includes(v)));
}

const CASES: Record<string, { values: Record<string, unknown>; accounts: Record<'agent' | 'responder', string> }> = {
  defaults: { values: {}, accounts: { agent: 'amber-agent', responder: 'amber-responder' } },
  'ServiceAccounts managed outside the chart': {
    values: {
      agent: { serviceAccount: { create: false, name: 'forensics-agent' } },
      responder: { serviceAccount: { create: false, name: 'forensics-intake' } },
    },
    accounts: { agent: 'forensics-agent', responder: 'forensics-intake' },
  },
  'every option on': {
    values: {
      metrics: { serviceMonitor: { enabled: true } },
      networkPolicy: { enabled: true },
      tls: { mode: 'certManager' },
      webhook: { enabled: true, allowUnauthenticated: true, evidenceHold: true },
    },
    accounts: { agent: 'amber-agent', responder: 'amber-responder' },
  },
};

for (const [name, { values, accounts }] of Object.entries(CASES)) {
  const objects = render(values);

  t.test(`${name}: no wildcard, no nodes/proxy, no Secrets, no escalation`, async (t) => {
    const problems: string[] = [];
    for (const role of [...find(objects, 'ClusterRole'), ...find(objects, 'Role')]) {
      const id = `${role.kind}/${role.metadata.name}`;
      const rules = (role['rules'] ?? []) as Rule[];
      if (role['aggregationRule']) problems.push(`${id}: aggregationRule (its rules would come from elsewhere)`);
      for (const rule of rules) {
        const all = [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs, ...(rule.resourceNames ?? []), ...(rule.nonResourceURLs ?? [])];
        if (all.some((x) => x.includes('*'))) problems.push(`${id}: a wildcard in ${JSON.stringify(rule)}`);
        if (rule.nonResourceURLs) problems.push(`${id}: nonResourceURLs`);
        if (rule.resources?.includes('nodes/proxy')) problems.push(`${id}: nodes/proxy is exec on every pod of the node`);
        if (rule.resources?.some((r) => r === 'secrets' || r.startsWith('secrets/')) && !rule.resourceNames?.length) {
          problems.push(`${id}: secrets without resourceNames`);
        }
        for (const v of ['escalate', 'bind', 'impersonate']) if (rule.verbs.includes(v)) problems.push(`${id}: verb ${v}`);
        if (role.kind === 'ClusterRole' && rule.apiGroups?.includes(CAPTURES)) problems.push(`${id}: Captures belong in a Role of the release namespace`);
      }
    }
    t.same(problems, []);
  });

  t.test(`${name}: bindings name only the chart's ServiceAccounts, in the release namespace`, async (t) => {
    for (const binding of [...find(objects, 'ClusterRoleBinding'), ...find(objects, 'RoleBinding')]) {
      for (const s of (binding['subjects'] ?? []) as { kind: string; name: string; namespace?: string }[]) {
        t.equal(s.kind, 'ServiceAccount', `${binding.metadata.name}: subject kind`);
        t.ok(Object.values(accounts).includes(s.name), `${binding.metadata.name}: ${s.name} is one of amber's`);
        t.equal(s.namespace, NAMESPACE);
      }
      if (binding.kind === 'RoleBinding') t.equal(binding.metadata.namespace, NAMESPACE);
    }
  });

  for (const role of ['agent', 'responder'] as const) {
    t.test(`${name}: the ${role} has exactly the permissions of the contract`, async (t) => {
      const grants = grantsOf(objects, accounts[role]);
      for (const want of REQUIRED[role]) {
        t.same(
          covers(grants, want),
          [],
          `${want.scope === 'cluster' ? 'cluster-wide' : 'in its namespace'}: ${want.apiGroup || 'core'}/${want.resource} ${want.verbs.join(',')}`,
        );
      }
      const beyond = grants.filter((g) => !allowedBy(REQUIRED[role], g));
      t.same(
        beyond.map((g) => `${g.role}: ${g.scope} ${g.apiGroup || 'core'}/${g.resource} ${g.verbs.join(',')}`),
        [],
        'nothing beyond it',
      );
    });
  }
}

t.test('the contract itself keeps Captures and Events namespaced and the kubelet reachable without nodes/proxy', async (t) => {
  for (const p of [...REQUIRED.agent, ...REQUIRED.responder]) {
    if (p.apiGroup === CAPTURES) t.equal(p.scope, 'namespace', `${p.resource} is namespaced`);
    // an Event anywhere else could land in the target's namespace, where the suspect reads it
    if (p.resource === 'events') t.equal(p.scope, 'namespace', `${p.apiGroup || 'core'}/events only in amber's namespace`);
    t.not(p.resource, 'nodes/proxy');
  }
});
