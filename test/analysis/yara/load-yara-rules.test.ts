import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadYaraRules, readYaraSources } from '../../../src/analysis/yara/load-yara-rules.js';
import { yaraXEngine } from '../../../src/analysis/yara/yara-x-engine.js';
import { loadSettings } from '../../../src/config/load-settings.js';
import { rejected, thrown } from '../../helpers/amber-errors.js';

let dir = '';
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amber-yara-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

const GOOD = 'rule good { strings: $a = "abc" condition: $a }\n';
// the undeclared $b is on line 5, column 5
const BAD = 'rule bad {\n  strings:\n    $a = "x"\n  condition:\n    $b\n}\n';

t.test('a rule that does not compile refuses to load, naming its file, line and column', async (t) => {
  const file = join(dir, 'bad.yar');
  await writeFile(file, BAD);
  await writeFile(join(dir, 'good.yar'), GOOD);
  const e = await rejected(loadYaraRules([join(dir, 'good.yar'), file], yaraXEngine()));
  t.equal(e.code, 'YARA_RULES_INVALID');
  t.match(e.details, { file, line: 5, column: 5, problem: /unknown pattern `\$b`/ });
  t.match(e.message, `${file}:5:5`);
});

t.test('a folder gives its .yar and .yara files, sub-folders included, in name order; other files are left', async (t) => {
  const rules = join(dir, 'set');
  await mkdir(join(rules, 'nested'), { recursive: true });
  await writeFile(join(rules, 'b.yara'), 'rule b { condition: false }\n');
  await writeFile(join(rules, 'a.yar'), 'rule a { condition: false }\n');
  await writeFile(join(rules, 'nested', 'c.YAR'), 'rule c { condition: false }\n');
  await writeFile(join(rules, 'README.md'), 'not a rule');
  t.same(
    (await readYaraSources([rules])).map((s) => s.file),
    [join(rules, 'a.yar'), join(rules, 'b.yara'), join(rules, 'nested', 'c.YAR')],
  );
  const compiled = await loadYaraRules([rules], yaraXEngine());
  t.equal(compiled?.files.length, 3);
});

t.test('no paths: no rules; a missing path or a folder without rules is refused', async (t) => {
  t.equal(await loadYaraRules([], yaraXEngine()), undefined);
  t.match((await rejected(readYaraSources([join(dir, 'nowhere.yar')]))).details, { file: join(dir, 'nowhere.yar'), problem: 'cannot be read' });
  const empty = join(dir, 'empty');
  await mkdir(empty);
  t.match((await rejected(readYaraSources([empty]))).details, { file: empty, problem: /no \.yar or \.yara file/ });
});

t.test('two files defining one rule name: the second is refused, by name', async (t) => {
  const e = thrown(() =>
    yaraXEngine().compile([
      { file: 'one.yar', text: GOOD },
      { file: 'two.yar', text: GOOD },
    ]),
  );
  t.match(e.details, { file: 'two.yar', line: 1 });
});

t.test('analysis.yara is read from the config file; an unknown key beside it is refused', async (t) => {
  const ok = join(dir, 'ok.yaml');
  await writeFile(ok, `analysis:\n  yara: [${JSON.stringify(join(dir, 'set'))}]\n`);
  t.same((await loadSettings({ configFile: ok })).analysis.yara, [join(dir, 'set')]);
  t.same((await loadSettings({})).analysis.yara, [], 'none by default');
  const typo = join(dir, 'typo.yaml');
  await writeFile(typo, 'analysis:\n  yarra: [rules]\n');
  t.match((await rejected(loadSettings({ configFile: typo }))).details, { setting: /^analysis/ });
});
