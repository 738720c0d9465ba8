import { readFile } from 'node:fs/promises';
import t from 'tap';
import { roleHelp, flagUsage } from '../../src/cli/roles/role-help.js';
import { SETTINGS_FLAGS } from '../../src/cli/roles/role-settings.js';
import { runCli } from '../../src/cli/run-cli.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { defaultText, kindOf, OVERRIDABLE, type Role } from '../../src/config/overridable-settings.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';

const ROLES: Role[] = ['serve', 'responder', 'agent'];

/** `amber <role> --help` as a user sees it. */
async function help(role: Role): Promise<string> {
  let out = '';
  const code = await runCli([role, '--help'], { out: (s) => (out += s), err: () => undefined, env: {} });
  if (code !== 0) throw new Error(`amber ${role} --help exited ${code}`);
  return out;
}

t.test('every overridable setting is in the help of the roles that read it, with its env var and its default', async (t) => {
  for (const role of ROLES) {
    const text = await help(role);
    t.equal(text, roleHelp(role), `${role}: the help printed is the one generated`);
    const lines = text.split('\n');
    for (const s of OVERRIDABLE) {
      const at = lines.findIndex((l) => l.startsWith(`  ${flagUsage(s)} `));
      // a row may carry its text and its default on the next, indented lines
      let end = at + 1;
      while (at >= 0 && /^ {6,}\S/.test(lines[end] ?? '')) end++;
      const line = at < 0 ? undefined : lines.slice(at, end).join(' ');
      if (!s.roles.includes(role)) {
        t.notOk(line, `${role} does not list --${s.flag}, which it does not read`);
        continue;
      }
      t.ok(line?.includes(s.env), `${role} --help: --${s.flag} with ${s.env}`);
      t.ok(line?.includes(`(default: ${defaultText(s)})`), `${role} --help: --${s.flag} with its default`);
    }
    t.ok(
      lines.every((l) => l.length <= 160),
      `${role}: no line over 160 columns`,
    );
  }
});

t.test('the defaults in the help are the ones amber uses', async (t) => {
  const serve = await help('serve');
  t.match(serve, /--shutdown-grace-seconds N +AMBER_SHUTDOWN_GRACE_SECONDS +.+ \(default: 25\)/);
  t.match(serve, /--listen HOST:PORT +AMBER_LISTEN +.+ \(default: 127\.0\.0\.1:8080\)/);
  t.match(serve, /--min-free-bytes N +AMBER_MIN_FREE_BYTES +.+ \(default: 1073741824\)/);
  t.match(serve, /--s3-region REGION +AMBER_S3_REGION +.+ \(default: \$AWS_REGION, else us-east-1\)/);
  const loaded = await loadSettings({});
  for (const s of OVERRIDABLE) {
    let value: unknown = loaded;
    for (const key of s.path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
    if (value !== undefined) t.equal(defaultText(s), String(value), `--${s.flag}: the default loaded`);
    else t.ok(s.absent, `--${s.flag} has no default value: the help says what happens without it`);
  }
  t.same(loaded, DEFAULT_SETTINGS);
});

t.test('each role lists what it uses: the responder no store or kubelet, the agent no intake, only the agent --node', async (t) => {
  const [serve, responder, agent] = await Promise.all(ROLES.map(help));
  for (const flag of ['--store', '--kubelet-ca', '--checkpoint-dir', '--signing-key', '--s3-endpoint']) {
    t.match(serve, flag);
    t.match(agent, flag);
    t.notMatch(responder, flag, `the responder writes no evidence: no ${flag}`);
  }
  for (const flag of ['--auth-tokens-file', '--insecure-no-auth', '--tls-cert', '--body-limit', '--jwks-file']) {
    t.match(serve, flag);
    t.match(responder, flag);
    t.notMatch(agent, flag, `the agent takes no alerts: no ${flag}`);
  }
  t.match(agent, '--node NAME');
  t.notMatch(responder, '--node NAME');
  t.notMatch(serve, '--namespace');
  t.match(responder, '--namespace NS');
  for (const text of [serve, responder, agent]) t.match(text, '--config FILE');
});

t.test('the flags parsed are the table: switches for booleans without a value, a value for every other', async (t) => {
  t.same(Object.keys(SETTINGS_FLAGS).sort(), [...OVERRIDABLE.map((s) => s.flag), 'config', 'help'].sort());
  t.equal(SETTINGS_FLAGS['insecure-no-auth']?.type, 'boolean');
  t.equal(SETTINGS_FLAGS['kubelet-insecure-skip-tls-verify']?.type, 'boolean');
  t.equal(SETTINGS_FLAGS['delete-node-copy']?.type, 'string', '--delete-node-copy false');
  t.equal(kindOf('capture.minFreeBytes'), 'integer');
  t.equal(kindOf('s3.sse'), 'string');
  t.equal(new Set(OVERRIDABLE.map((s) => s.env)).size, OVERRIDABLE.length, 'one env var per setting');
});

t.test('every env var the Helm chart sets is one amber reads', async (t) => {
  const envs = new Set(OVERRIDABLE.map((s) => s.env));
  for (const file of ['agent.yaml', 'responder.yaml']) {
    const text = await readFile(new URL(`../../helm/amber/templates/${file}`, import.meta.url), 'utf8');
    const named = [...text.matchAll(/name: (AMBER_[A-Z0-9_]+)/g)].map((m) => m[1] as string);
    t.ok(named.length > 0, `${file} sets AMBER_ variables`);
    for (const env of named) t.ok(envs.has(env), `${file}: ${env}`);
  }
});
