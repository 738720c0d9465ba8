import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadSettings, type SettingsSources } from '../../src/config/load-settings.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { rejected } from '../helpers/amber-errors.js';

let dir = '';
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amber-settings-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

let n = 0;
/** Writes a config file with this YAML text and returns its path. */
async function configFile(text: string): Promise<string> {
  const file = join(dir, `config-${++n}.yaml`);
  await writeFile(file, text);
  return file;
}

const load = (sources: SettingsSources) => loadSettings(sources);

t.test('defaults', async (t) => {
  t.test('are used when nothing is given', async (t) => {
    const s = await load({});
    t.equal(s.listen, '127.0.0.1:8080');
    t.equal(s.policies, './policies');
    t.equal(s.dataDir, './.amber');
    t.equal(s.store, 'file://./evidence');
    t.equal(s.bodyLimit, 1024 * 1024);
    t.equal(s.logLevel, 'info');
    t.equal(s.auth.insecureNoAuth, false);
    t.same(s, DEFAULT_SETTINGS);
  });

  t.test('are used when the config file is empty', async (t) => {
    t.same(await load({ configFile: await configFile('') }), DEFAULT_SETTINGS);
    t.same(await load({ configFile: await configFile('# only a comment\n') }), DEFAULT_SETTINGS);
  });
});

t.test('precedence is flag > env > file > default', async (t) => {
  const cases = [
    { path: 'listen', flag: 'listen', env: 'AMBER_LISTEN', values: ['0.0.0.0:1001', '0.0.0.0:1002', '0.0.0.0:1003'] },
    { path: 'policies', flag: 'policies', env: 'AMBER_POLICIES', values: ['/flag/policies', '/env/policies', '/file/policies'] },
    { path: 'dataDir', flag: 'data-dir', env: 'AMBER_DATA_DIR', values: ['/flag/data', '/env/data', '/file/data'] },
    { path: 'store', flag: 'store', env: 'AMBER_STORE', values: ['s3://flag-bucket/p', 's3://env-bucket/p', 'file:///file/evidence'] },
  ] as const;

  for (const c of cases) {
    t.test(`for ${c.path}`, async (t) => {
      const [fromFlag, fromEnv, fromFile] = c.values;
      const file = await configFile(`${c.path}: "${fromFile}"\n`);
      const get = (s: Awaited<ReturnType<typeof load>>) => s[c.path];
      t.equal(get(await load({})), DEFAULT_SETTINGS[c.path], 'default');
      t.equal(get(await load({ configFile: file })), fromFile, 'file over default');
      t.equal(get(await load({ configFile: file, env: { [c.env]: fromEnv } })), fromEnv, 'env over file');
      t.equal(get(await load({ configFile: file, env: { [c.env]: fromEnv }, flags: { [c.flag]: fromFlag } })), fromFlag, 'flag over env');
      t.equal(get(await load({ configFile: file, flags: { [c.flag]: fromFlag } })), fromFlag, 'flag over file');
      t.equal(get(await load({ env: { [c.env]: fromEnv } })), fromEnv, 'env over default');
      t.equal(get(await load({ flags: { [c.flag]: fromFlag } })), fromFlag, 'flag over default');
      t.equal(get(await load({ flags: { [c.flag]: undefined }, env: { [c.env]: undefined } })), DEFAULT_SETTINGS[c.path], 'undefined is not set');
    });
  }

  t.test('one source can set several settings while another overrides only some', async (t) => {
    const file = await configFile('listen: "10.0.0.1:9000"\npolicies: /etc/amber/policies\ndataDir: /var/lib/amber\nstore: s3://evidence/amber\n');
    const s = await load({ configFile: file, env: { AMBER_DATA_DIR: '/env/data' }, flags: { listen: '[::1]:9443' } });
    t.equal(s.listen, '[::1]:9443');
    t.equal(s.policies, '/etc/amber/policies');
    t.equal(s.dataDir, '/env/data');
    t.equal(s.store, 's3://evidence/amber');
  });

  t.test('a valid flag wins over a bad value in the file or env', async (t) => {
    const file = await configFile('listen: nonsense\n');
    const s = await load({ configFile: file, env: { AMBER_LISTEN: 'also nonsense' }, flags: { listen: 'localhost:8443' } });
    t.equal(s.listen, 'localhost:8443');
  });

  t.test('ignores env variables it does not know', async (t) => {
    const s = await load({ env: { AMBER_LISEN: 'x', PATH: '/bin', HOME: '/root' } });
    t.equal(s.listen, '127.0.0.1:8080');
  });
});

t.test('types from env and flags', async (t) => {
  t.test('reads whole numbers from text', async (t) => {
    t.equal((await load({ env: { AMBER_BODY_LIMIT: '2048' } })).bodyLimit, 2048);
    t.equal((await load({ flags: { 'body-limit': ' 4096 ' } })).bodyLimit, 4096);
    t.equal((await load({ env: { AMBER_SHUTDOWN_GRACE_SECONDS: '0' } })).shutdownGraceSeconds, 0);
  });

  t.test('reads booleans from flags and the usual env spellings', async (t) => {
    t.equal((await load({ flags: { 'insecure-no-auth': true } })).auth.insecureNoAuth, true);
    for (const yes of ['1', 'true', 'TRUE', 'yes', 'on']) t.equal((await load({ env: { AMBER_INSECURE_NO_AUTH: yes } })).auth.insecureNoAuth, true, yes);
    for (const no of ['0', 'false', 'no', 'off', ''])
      t.equal((await load({ env: { AMBER_INSECURE_NO_AUTH: no } })).auth.insecureNoAuth, false, JSON.stringify(no));
    t.equal((await load({ env: { AMBER_INSECURE_NO_AUTH: 'true' }, flags: { 'insecure-no-auth': false } })).auth.insecureNoAuth, false, 'flag over env');
  });

  t.test('sets nested settings from env and flags without losing their siblings', async (t) => {
    const file = await configFile('tls:\n  cert: /file/cert.pem\n  key: /file/key.pem\n');
    const s = await load({ configFile: file, env: { AMBER_TLS_CLIENT_CA: '/env/ca.pem' }, flags: { 'tls-key': '/flag/key.pem' } });
    t.same(s.tls, { cert: '/file/cert.pem', key: '/flag/key.pem', clientCA: '/env/ca.pem' });
    t.equal((await load({ env: { AMBER_AUTH_TOKENS_FILE: '/run/tokens' } })).auth.tokensFile, '/run/tokens');
    t.equal((await load({ env: { AMBER_AUTH_TOKENS_FILE: '/run/tokens' } })).auth.insecureNoAuth, false);
  });

  t.test('merges nested file settings into the defaults, replacing lists whole', async (t) => {
    const file = await configFile('alertmanager:\n  labels:\n    pod: [exported_pod]\nlogLevel: debug\n');
    const s = await load({ configFile: file });
    t.same(s.alertmanager.labels.pod, ['exported_pod']);
    t.same(s.alertmanager.labels.namespace, DEFAULT_SETTINGS.alertmanager.labels.namespace);
    t.equal(s.logLevel, 'debug');
    t.same(DEFAULT_SETTINGS.alertmanager.labels.pod, ['pod', 'k8s_pod_name'], 'the defaults are not changed');
  });
});

t.test('bad settings stop with CONFIG_INVALID naming the setting and its source', async (t) => {
  t.test('--listen nonsense', async (t) => {
    const err = await rejected(load({ flags: { listen: 'nonsense' } }));
    t.equal(err.code, 'CONFIG_INVALID');
    t.equal(err.details['setting'], 'listen');
    t.equal(err.details['from'], 'flag --listen');
    t.match(err.message, /setting=listen/);
    t.match(err.message, /flag --listen/);
  });

  t.test('AMBER_LISTEN nonsense', async (t) => {
    const err = await rejected(load({ env: { AMBER_LISTEN: 'nonsense' } }));
    t.equal(err.code, 'CONFIG_INVALID');
    t.equal(err.details['setting'], 'listen');
    t.equal(err.details['from'], 'env AMBER_LISTEN');
  });

  t.test('listen without a host or with a bad port', async (t) => {
    for (const listen of [':8080', '127.0.0.1', '127.0.0.1:', '127.0.0.1:http', '127.0.0.1:123456', 'a b:80', '']) {
      const err = await rejected(load({ flags: { listen } }));
      t.equal(err.code, 'CONFIG_INVALID', JSON.stringify(listen));
      t.equal(err.details['setting'], 'listen');
    }
    const outOfRange = await load({ flags: { listen: '127.0.0.1:99999' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.match(outOfRange, { code: 'CONFIG_INVALID', details: { setting: 'listen', from: 'flag --listen' } }, 'a port above 65535');
    for (const listen of ['0.0.0.0:8080', '[::]:8080', '[::1]:9443', 'amber.example.com:443']) {
      t.equal((await load({ flags: { listen } })).listen, listen);
    }
  });

  t.test('a listen from the file names the file', async (t) => {
    const file = await configFile('listen: nonsense\n');
    const err = await rejected(load({ configFile: file }));
    t.equal(err.code, 'CONFIG_INVALID');
    t.equal(err.details['setting'], 'listen');
    t.equal(err.details['from'], `config file ${file}`);
    t.ok(err.message.includes(file), 'the message names the file');
  });

  t.test('the source named is the one that won', async (t) => {
    const file = await configFile('listen: "127.0.0.1:9000"\n');
    const err = await rejected(load({ configFile: file, env: { AMBER_LISTEN: 'bad' } }));
    t.equal(err.details['from'], 'env AMBER_LISTEN');
  });

  t.test('AMBER_BODY_LIMIT=abc', async (t) => {
    const err = await rejected(load({ env: { AMBER_BODY_LIMIT: 'abc' } }));
    t.equal(err.code, 'CONFIG_INVALID');
    t.equal(err.details['setting'], 'bodyLimit');
    t.equal(err.details['from'], 'env AMBER_BODY_LIMIT');
    t.match(String(err.details['problem']), /'abc' is not a whole number/);
    t.match(err.message, /AMBER_BODY_LIMIT/);
  });

  t.test('body limits that are negative, fractional or out of range', async (t) => {
    for (const limit of ['-1', '1.5', '1e6', '0x400']) {
      const err = await rejected(load({ env: { AMBER_BODY_LIMIT: limit } }));
      t.equal(err.details['setting'], 'bodyLimit', limit);
      t.match(String(err.details['problem']), /not a whole number/);
    }
    const small = await rejected(load({ flags: { 'body-limit': '10' } }));
    t.equal(small.details['setting'], 'bodyLimit');
    t.equal(small.details['from'], 'flag --body-limit');
    t.match(String(small.details['problem']), /1024/);
    const big = await rejected(load({ flags: { 'body-limit': String(128 * 1024 * 1024) } }));
    t.equal(big.details['setting'], 'bodyLimit');
  });

  t.test('a boolean that is not one', async (t) => {
    const err = await rejected(load({ env: { AMBER_INSECURE_NO_AUTH: 'maybe' } }));
    t.equal(err.code, 'CONFIG_INVALID');
    t.equal(err.details['setting'], 'auth.insecureNoAuth');
    t.equal(err.details['from'], 'env AMBER_INSECURE_NO_AUTH');
  });

  t.test('a string flag given without a value', async (t) => {
    const err = await rejected(load({ flags: { store: true } }));
    t.equal(err.details['setting'], 'store');
    t.equal(err.details['from'], 'flag --store');
    t.equal(err.details['problem'], 'needs a value');
  });

  t.test('store ftp://x', async (t) => {
    for (const [sources, from] of [
      [{ flags: { store: 'ftp://x' } }, 'flag --store'],
      [{ env: { AMBER_STORE: 'ftp://x' } }, 'env AMBER_STORE'],
      [{ flags: { store: 's3://' } }, 'flag --store'],
      [{ flags: { store: './evidence' } }, 'flag --store'],
    ] as const) {
      const err = await rejected(load(sources));
      t.equal(err.code, 'CONFIG_INVALID');
      t.equal(err.details['setting'], 'store');
      t.equal(err.details['from'], from);
    }
  });

  t.test('an empty env value for a path setting', async (t) => {
    const err = await rejected(load({ env: { AMBER_AUTH_TOKENS_FILE: '' } }));
    t.equal(err.details['setting'], 'auth.tokensFile');
    t.equal(err.details['from'], 'env AMBER_AUTH_TOKENS_FILE');
  });

  t.test('an unknown key in the YAML file', async (t) => {
    const file = await configFile('lisen: "0.0.0.0:8080"\n');
    const err = await rejected(load({ configFile: file }));
    t.equal(err.code, 'CONFIG_INVALID');
    t.equal(err.details['setting'], 'lisen');
    t.equal(err.details['from'], `config file ${file}`);
    t.match(String(err.details['problem']), /unknown key 'lisen'/);
  });

  t.test('an unknown nested key in the YAML file', async (t) => {
    const file = await configFile('auth:\n  token: s3cret\n');
    const err = await rejected(load({ configFile: file }));
    t.equal(err.details['setting'], 'auth.token');
    t.equal(err.details['from'], `config file ${file}`);
  });

  t.test('a value of the wrong type or choice in the file', async (t) => {
    const level = await configFile('logLevel: verbose\n');
    const levelErr = await rejected(load({ configFile: level }));
    t.equal(levelErr.details['setting'], 'logLevel');
    t.match(String(levelErr.details['problem']), /"fatal", "error", "warn", "info", "debug", "trace"/);
    const limit = await configFile('bodyLimit: "2048"\n');
    t.equal((await rejected(load({ configFile: limit }))).details['setting'], 'bodyLimit');
    const labels = await configFile('alertmanager:\n  labels:\n    pod: []\n');
    const labelsErr = await rejected(load({ configFile: labels }));
    t.equal(labelsErr.details['setting'], 'alertmanager.labels.pod');
    t.equal(labelsErr.details['from'], `config file ${labels}`);
    const nulled = await configFile('auth: null\n');
    t.equal((await rejected(load({ configFile: nulled }))).details['setting'], 'auth');
  });

  t.test('a config file that is not a mapping', async (t) => {
    for (const text of ['- listen\n- policies\n', 'just text\n', '42\n']) {
      const file = await configFile(text);
      const err = await rejected(load({ configFile: file }));
      t.equal(err.code, 'CONFIG_INVALID', text);
      t.equal(err.details['file'], file);
      t.equal(err.details['problem'], 'the file must hold a mapping');
    }
  });
});

t.test('the config file', async (t) => {
  t.test('that does not exist is CONFIG_FILE_UNREADABLE naming it', async (t) => {
    const file = join(dir, 'missing.yaml');
    const err = await rejected(load({ configFile: file }));
    t.equal(err.code, 'CONFIG_FILE_UNREADABLE');
    t.equal(err.details['file'], file);
    t.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    t.ok(err.message.includes(file));
  });

  t.test('that is a directory is CONFIG_FILE_UNREADABLE', async (t) => {
    const sub = join(dir, 'a-directory.yaml');
    await mkdir(sub);
    const err = await rejected(load({ configFile: sub }));
    t.equal(err.code, 'CONFIG_FILE_UNREADABLE');
    t.equal(err.details['file'], sub);
  });

  t.test('that is not YAML is CONFIG_FILE_UNREADABLE', async (t) => {
    const file = await configFile('listen: [unclosed\n');
    const err = await rejected(load({ configFile: file }));
    t.equal(err.code, 'CONFIG_FILE_UNREADABLE');
    t.equal(err.details['file'], file);
  });
});

t.test('the result is frozen all the way down', async (t) => {
  const file = await configFile('alertmanager:\n  labels:\n    pod: [exported_pod]\n');
  const s = await load({ configFile: file, flags: { listen: '0.0.0.0:9000' } });
  t.ok(Object.isFrozen(s));
  t.ok(Object.isFrozen(s.auth));
  t.ok(Object.isFrozen(s.tls));
  t.ok(Object.isFrozen(s.alertmanager.labels));
  t.ok(Object.isFrozen(s.alertmanager.labels.pod));
  t.throws(() => {
    (s as { listen: string }).listen = 'x:1';
  }, TypeError);
  t.throws(() => {
    (s.alertmanager.labels.pod as string[]).push('x');
  }, TypeError);
  t.equal(s.listen, '0.0.0.0:9000');
  t.notOk(Object.isFrozen(DEFAULT_SETTINGS), 'the defaults object itself is left alone');
  const again = await load({});
  t.not(again, DEFAULT_SETTINGS, 'each load makes a copy');
});
