import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { kubeletCredentials, SERVICE_ACCOUNT_TOKEN } from '../../src/kube/kubelet-credentials.js';

let dir = '';
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amber-kubelet-creds-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** A kubeconfig with one cluster and one user, as client-node loads it. */
function kubeconfig(cluster: { caData?: string; caFile?: string }, user: { token?: string }): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', ...cluster }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const PEM = (label: string) => `-----BEGIN CERTIFICATE-----\n${label}\n-----END CERTIFICATE-----\n`;

t.test('the given CA file and token file win over the kubeconfig', async (t) => {
  const caFile = join(dir, 'kubelet-ca.pem');
  await writeFile(caFile, PEM('kubelet'));
  const kc = kubeconfig({ caData: Buffer.from(PEM('cluster')).toString('base64') }, { token: 'user-token' });
  const creds = await kubeletCredentials(kc, { ca: caFile, tokenFile: '/run/token', insecureSkipTLSVerify: false });
  t.equal(String(creds.ca), PEM('kubelet'));
  t.same(creds.token, { file: '/run/token' });
  t.equal(creds.insecureSkipTLSVerify, false);
});

t.test("none given: the cluster's inline CA and the kubeconfig user's token", async (t) => {
  const kc = kubeconfig({ caData: Buffer.from(PEM('cluster')).toString('base64') }, { token: 'user-token' });
  const creds = await kubeletCredentials(kc, { insecureSkipTLSVerify: true });
  t.equal(String(creds.ca), PEM('cluster'));
  t.same(creds.token, { value: 'user-token' });
  t.equal(creds.insecureSkipTLSVerify, true, 'the switch passes through');
});

t.test("in a pod: the cluster's CA file and the service account's token file, re-read on every call", async (t) => {
  const clusterCa = join(dir, 'ca.crt');
  await writeFile(clusterCa, PEM('in-cluster'));
  const kc = kubeconfig({ caFile: clusterCa }, {});
  const creds = await kubeletCredentials(kc, { insecureSkipTLSVerify: false });
  t.equal(String(creds.ca), PEM('in-cluster'));
  t.same(creds.token, { file: SERVICE_ACCOUNT_TOKEN });
  t.same((await kubeletCredentials(kc, { insecureSkipTLSVerify: false }, { tokenFile: '/elsewhere/token' })).token, { file: '/elsewhere/token' });
});

t.test('no CA anywhere: none (the system roots), and an unreadable CA file is an error', async (t) => {
  const creds = await kubeletCredentials(kubeconfig({}, { token: 'x' }), { insecureSkipTLSVerify: false });
  t.equal(creds.ca, undefined);
  await t.rejects(kubeletCredentials(kubeconfig({}, {}), { ca: join(dir, 'absent.pem'), insecureSkipTLSVerify: false }), { code: 'ENOENT' });
});
