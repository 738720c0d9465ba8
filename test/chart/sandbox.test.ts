// The optional sandbox namespace of `amber restore` (issue 18): off by default; when on, fenced,
// bounded, and open to the listed restorers only, in that namespace only. And what the agents
// bring to the evidence: the restore button's binding, YARA rules and indicator lists.
import { LimitRange } from 'kubernetes-models/v1/LimitRange';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import t from 'tap';
import { find, NAMESPACE, one, render, template } from './chart.js';

const RESTORERS = [{ kind: 'Group', name: 'forensics', apiGroup: 'rbac.authorization.k8s.io' }];
const MODELS: Record<string, new (o: never) => { validate(): void }> = { Namespace, NetworkPolicy, ResourceQuota, LimitRange, Role, RoleBinding };

t.test('off by default: no sandbox namespace, nothing rendered outside the release namespace', async (t) => {
  const objects = render();
  t.same(find(objects, 'Namespace'), []);
  t.same(
    objects.filter((o) => o.metadata.namespace !== undefined && o.metadata.namespace !== NAMESPACE).map((o) => o.kind),
    [],
  );
});

t.test('on: the namespace with a deny-all policy for every pod, a quota, defaults it can count, and a Role only there', async (t) => {
  const objects = render({ sandbox: { enabled: true, restorers: RESTORERS } });
  const inSandbox = objects.filter((o) => o.metadata.namespace === 'amber-sandbox' || (o.kind === 'Namespace' && o.metadata.name === 'amber-sandbox'));
  t.same(inSandbox.map((o) => o.kind).sort(), ['LimitRange', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'Role', 'RoleBinding']);
  for (const o of inSandbox) {
    const Model = MODELS[o.kind];
    t.doesNotThrow(() => Model && new Model(o as never).validate(), `${o.kind} passes its schema`);
  }
  t.equal(
    one(objects, 'Namespace').metadata.labels?.['pod-security.kubernetes.io/enforce'],
    'privileged',
    'CRIU restores processes with the capabilities they had',
  );
  const deny = inSandbox.find((o) => o.kind === 'NetworkPolicy')?.['spec'] as Record<string, unknown>;
  t.same(deny, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, 'every pod, no rule: nothing in, nothing out');
  const role = inSandbox.find((o) => o.kind === 'Role') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  t.same(
    role.rules.map((r) => `${r.apiGroups.join(',')}/${r.resources.join(',')}: ${r.verbs.join(',')}`),
    ['/pods: create,get,list,watch,delete', '/pods/log: get', 'networking.k8s.io/networkpolicies: create,get,list,delete'],
  );
  const binding = inSandbox.find((o) => o.kind === 'RoleBinding') as unknown as { subjects: unknown[]; roleRef: { kind: string } };
  t.same(binding.subjects, RESTORERS);
  t.equal(binding.roleRef.kind, 'Role', 'a Role, not a ClusterRole: the restorers can do nothing elsewhere');
  const hard = (inSandbox.find((o) => o.kind === 'ResourceQuota')?.['spec'] as { hard: Record<string, string> }).hard;
  t.equal(hard['pods'], '10');
  const limits = (inSandbox.find((o) => o.kind === 'LimitRange')?.['spec'] as { limits: { defaultRequest: Record<string, string> }[] }).limits;
  t.ok(limits[0]?.defaultRequest['cpu'] && limits[0]?.defaultRequest['memory'], 'a restored pod without requests gets some the quota counts');
});

t.test("the sandbox may not be amber's own namespace; without restorers the Role is bound to nobody", async (t) => {
  const r = template({ sandbox: { enabled: true, namespace: NAMESPACE } });
  t.not(r.status, 0);
  t.match(r.stderr, /sandbox\.namespace must not be amber's own namespace/);
  t.same(
    find(render({ sandbox: { enabled: true } }), 'RoleBinding').filter((o) => o.metadata.namespace === 'amber-sandbox'),
    [],
  );
});

t.test("the restore button (config.ui.restore) binds the agents to the sandbox's Role, and needs the chart's sandbox", async (t) => {
  const restore = { image: 'registry.example/restores', namespace: 'amber-sandbox' };
  const objects = render({
    sandbox: { enabled: true, restorers: RESTORERS },
    config: { ui: { restore } },
    ui: { restoreRegistrySecret: 'registry-push' },
  });
  const binding = find(objects, 'RoleBinding').find((o) => o.metadata.namespace === 'amber-sandbox') as unknown as { subjects: Record<string, string>[] };
  t.same(binding.subjects, [...RESTORERS, { kind: 'ServiceAccount', name: 'amber-agent', namespace: NAMESPACE }], 'the listed restorers and the agents');
  t.doesNotThrow(() => new RoleBinding(binding as never).validate());
  const agent = one(objects, 'DaemonSet') as unknown as { spec: { template: { spec: { containers: { env: { name: string; valueFrom?: unknown }[] }[] } } } };
  t.match(
    agent.spec.template.spec.containers[0]?.env.find((e) => e.name === 'AMBER_REGISTRY_PASSWORD'),
    { valueFrom: { secretKeyRef: { name: 'registry-push', key: 'password' } } },
    'the agents push with the registry password from the Secret',
  );
  const noButton = render({ sandbox: { enabled: true, restorers: RESTORERS } });
  const plain = one(noButton, 'DaemonSet') as unknown as typeof agent;
  t.equal(
    plain.spec.template.spec.containers[0]?.env.find((e) => e.name === 'AMBER_REGISTRY_PASSWORD'),
    undefined,
  );

  const withoutSandbox = template({ config: { ui: { restore } } });
  t.not(withoutSandbox.status, 0);
  t.match(withoutSandbox.stderr, /config\.ui\.restore \(the restore button\) needs sandbox\.enabled/);
  const elsewhere = template({ sandbox: { enabled: true }, config: { ui: { restore: { ...restore, namespace: 'other' } } } });
  t.not(elsewhere.status, 0);
  t.match(elsewhere.stderr, /config\.ui\.restore\.namespace \(other\) must be sandbox\.namespace \(amber-sandbox\)/);
});

t.test('YARA rules and indicator lists from ConfigMaps are mounted on the agents only, read-only; none by default', async (t) => {
  type Pod = {
    spec: {
      template: {
        spec: {
          volumes: { name: string; configMap?: { name: string } }[];
          containers: { volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[];
        };
      };
    };
  };
  const agentOf = (objects: ReturnType<typeof render>) => one(objects, 'DaemonSet') as unknown as Pod;
  const plain = agentOf(render()).spec.template.spec;
  t.notOk(plain.volumes.some((v) => v.name === 'yara-rules' || v.name === 'indicator-lists'));
  const objects = render({ analysis: { yaraConfigMap: 'team-yara', listsConfigMap: 'team-lists' }, config: { analysis: { yara: ['/etc/amber/yara'] } } });
  const pod = agentOf(objects).spec.template.spec;
  t.doesNotThrow(() => new DaemonSet(agentOf(objects) as never).validate());
  t.same(
    pod.volumes.filter((v) => v.configMap?.name.startsWith('team-')).map((v) => [v.name, v.configMap?.name]),
    [
      ['yara-rules', 'team-yara'],
      ['indicator-lists', 'team-lists'],
    ],
  );
  for (const [name, path] of [
    ['yara-rules', '/etc/amber/yara'],
    ['indicator-lists', '/etc/amber/lists'],
  ])
    t.match(
      pod.containers[0]?.volumeMounts.find((m) => m.name === name),
      { mountPath: path, readOnly: true },
      `${name} at ${path}`,
    );
  const responder = one(objects, 'Deployment') as unknown as Pod;
  t.notOk(
    responder.spec.template.spec.volumes.some((v) => v.name === 'yara-rules'),
    'the responder analyses nothing',
  );
});
