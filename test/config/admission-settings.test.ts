import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import { startServe } from '../../src/cli/roles/serve-command.js';
import { admissionListener, checkAdmissionHolds } from '../../src/config/admission-settings.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { roleHelp } from '../../src/cli/roles/role-help.js';
import { rejected, thrown } from '../helpers/amber-errors.js';

const withTls = (flags: Record<string, string | boolean>) => loadSettings({ flags: { 'tls-cert': '/tls.crt', 'tls-key': '/tls.key', ...flags } });

const HOLDING = [{ name: 'exec-hold', admission: { holdUntilCheckpointedMs: 10_000, holdDeletes: false } }];
const DELETES = [{ name: 'delete-hold', admission: { holdUntilCheckpointedMs: 0, holdDeletes: true } }];
const QUIET = [{ name: 'watch-only', admission: { holdUntilCheckpointedMs: 0, holdDeletes: false } }];

t.test('the admission listener is off unless --admission-listen; on, it needs HTTPS and a way to know its caller', async (t) => {
  t.equal(admissionListener(await loadSettings({})), undefined, 'off by default');
  const plain = await loadSettings({ flags: { 'admission-listen': '0.0.0.0:9443', 'admission-allow-unauthenticated': true } });
  const noTls = thrown(() => admissionListener(plain));
  t.equal(noTls.code, 'CONFIG_INVALID');
  t.match(noTls.message, /HTTPS only/);
  const neitherSettings = await withTls({ 'admission-listen': '0.0.0.0:9443' });
  const neither = thrown(() => admissionListener(neitherSettings));
  t.equal(neither.code, 'CONFIG_INVALID');
  t.match(neither.message, /--admission-client-ca/);
  t.match(neither.message, /--admission-allow-unauthenticated/, 'the error names both options');
  const mtls = admissionListener(await withTls({ 'admission-listen': '0.0.0.0:9443', 'admission-client-ca': '/ca.crt' }));
  t.match(mtls, { listen: '0.0.0.0:9443', tls: { cert: '/tls.crt', key: '/tls.key', clientCA: '/ca.crt' }, requireClientCert: true, maxConcurrentHolds: 32 });
  const own = admissionListener(
    await withTls({
      'admission-listen': '0.0.0.0:9443',
      'admission-allow-unauthenticated': true,
      'admission-tls-cert': '/w.crt',
      'admission-tls-key': '/w.key',
    }),
  );
  t.match(own, { tls: { cert: '/w.crt', key: '/w.key' }, requireClientCert: false, allowUnauthenticated: true }, 'its own certificate when given');
  const both = admissionListener(
    await withTls({ 'admission-listen': '0.0.0.0:9443', 'admission-client-ca': '/ca.crt', 'admission-allow-unauthenticated': true }),
  );
  t.equal(both?.requireClientCert, false, 'a CA and unauthenticated callers: certificates asked for, not required');
  const nameOnly = await withTls({ 'admission-listen': '0.0.0.0:9443', 'admission-client-name': 'x', 'admission-allow-unauthenticated': true });
  t.match(thrown(() => admissionListener(nameOnly)).message, /needs --admission-client-ca/);
});

t.test('settings come from flags and env, validated like every setting', async (t) => {
  const s = await loadSettings({
    env: { AMBER_ADMISSION_LISTEN: '0.0.0.0:9443', AMBER_ADMISSION_MAX_HOLDS: '4', AMBER_ADMISSION_CLIENT_NAME: 'kube-apiserver' },
  });
  t.match(s.admission, { listen: '0.0.0.0:9443', maxConcurrentHolds: 4, clientName: 'kube-apiserver', allowUnauthenticated: false });
  t.equal((await rejected(loadSettings({ flags: { 'admission-listen': 'nowhere' } }))).code, 'CONFIG_INVALID');
  t.equal((await rejected(loadSettings({ flags: { 'admission-max-holds': '-1' } }))).code, 'CONFIG_INVALID');
  for (const role of ['serve', 'responder'] as const)
    t.match(roleHelp(role), /--admission-client-ca FILE\s+AMBER_ADMISSION_CLIENT_CA/, `${role} --help lists it`);
  t.notMatch(roleHelp('agent'), /admission-listen/, 'the agent takes no admission requests');
});

t.test('without mTLS a policy that holds refuses to load, unless unauthenticated holds are allowed', async (t) => {
  const unauth = await withTls({ 'admission-listen': '0.0.0.0:9443', 'admission-allow-unauthenticated': true });
  for (const policies of [HOLDING, DELETES]) {
    const e = thrown(() => checkAdmissionHolds(unauth, policies));
    t.equal(e.code, 'CONFIG_INVALID');
    t.match(e.message, new RegExp(`${policies[0]?.name}.*--admission-unauthenticated-holds`));
  }
  t.doesNotThrow(() => checkAdmissionHolds(unauth, QUIET), 'a policy that only watches loads');
  const mtls = await withTls({ 'admission-listen': '0.0.0.0:9443', 'admission-client-ca': '/ca.crt' });
  t.doesNotThrow(() => checkAdmissionHolds(mtls, HOLDING), 'with mTLS');
  t.doesNotThrow(() => checkAdmissionHolds({ ...unauth, admission: { ...unauth.admission, allowUnauthenticatedHolds: true } }, HOLDING), 'allowed');
  const off = await loadSettings({});
  t.doesNotThrow(() => checkAdmissionHolds(off, HOLDING), 'without the admission listener nothing can hold');
});

t.test('amber serve refuses to start with the admission listener and no caller authentication; amber policy runs the same hold check', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-adm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'tls.crt'), 'x');
  await writeFile(join(dir, 'tls.key'), 'x');
  const io = { out: () => undefined, err: () => undefined, env: {} };
  const e = await rejected(
    startServe(
      [
        '--data-dir',
        dir,
        '--store',
        `file://${dir}/evidence`,
        '--tls-cert',
        join(dir, 'tls.crt'),
        '--tls-key',
        join(dir, 'tls.key'),
        '--admission-listen',
        '127.0.0.1:0',
      ],
      io,
    ),
  );
  t.equal(e.code, 'CONFIG_INVALID');
  t.match(e.message, /--admission-client-ca.*--admission-allow-unauthenticated/);

  const policies = join(dir, 'policies');
  await mkdir(policies);
  await writeFile(
    join(policies, 'hold.yaml'),
    'apiVersion: forensics.amber.dev/v1alpha1\nkind: CapturePolicy\nmetadata: {name: exec-hold}\nspec: {description: d, match: {sources: [admission]}, admission: {holdUntil: checkpointed}}\n',
  );
  const out: string[] = [];
  const cli = { out: (s: string) => out.push(s), err: (s: string) => out.push(s), env: { AMBER_ADMISSION_LISTEN: '0.0.0.0:9443' } };
  t.equal(await runCli(['policy', 'validate', '--policies', policies], cli), 1, 'refused with the admission listener and no mTLS');
  t.match(out.join('\n'), /CONFIG_INVALID.*exec-hold.*--admission-unauthenticated-holds/);
  t.equal(await runCli(['policy', 'validate', '--policies', policies, '--admission-client-ca', '/ca.crt'], cli), 0, 'accepted with mTLS');
  t.equal(await runCli(['policy', 'validate', '--policies', policies], { ...cli, env: {} }), 0, 'accepted without the admission listener');
});
