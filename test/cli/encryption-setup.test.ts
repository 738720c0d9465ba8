import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRecipients } from '../../src/cli/encryption-setup.js';
import { runCli } from '../../src/cli/run-cli.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { generateAgeIdentity } from '../../src/evidence/age/age-keys.js';
import { rejected } from '../helpers/amber-errors.js';

t.test('default recipients: from the settings and an age -R file, checked and deduplicated', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-recipients-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = generateAgeIdentity().recipient;
  const b = generateAgeIdentity().recipient;
  await writeFile(join(dir, 'team.txt'), `# incident response team\n${b}\n\n# escrow\n${a}\n`);
  const got = await defaultRecipients({ ...DEFAULT_SETTINGS, encryption: { recipients: [a.toUpperCase()], recipientsFile: join(dir, 'team.txt') } });
  t.same(got, [a, b]);

  const bad = await rejected(defaultRecipients({ ...DEFAULT_SETTINGS, encryption: { recipients: [a, 'age1nope'] } }));
  t.match(bad, { code: 'CONFIG_INVALID', details: { setting: 'encryption.recipients[1]' } });
  const missing = await rejected(defaultRecipients({ ...DEFAULT_SETTINGS, encryption: { recipients: [], recipientsFile: join(dir, 'absent.txt') } }));
  t.match(missing, { code: 'CONFIG_INVALID', details: { setting: 'encryption.recipientsFile', problem: 'cannot read the file' } });
});

t.test('serve refuses to start on a recipient that is not one: evidence nobody can read is worse than none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-recipients-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'amber.yaml'), 'encryption:\n  recipients: [age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq]\n');
  const err: string[] = [];
  const code = await runCli(['serve', '--config', join(dir, 'amber.yaml'), '--data-dir', dir, '--listen', '127.0.0.1:0'], {
    out: () => undefined,
    err: (s) => err.push(s),
    env: {},
  });
  t.equal(code, 2);
  t.match(err.join(''), /CONFIG_INVALID.*encryption\.recipients\[0\]/);
});
