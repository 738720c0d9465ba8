/**
 * An archive whose pages come before the images that map them is read twice (inspect-checkpoint.ts):
 * the YARA scan of memory must then give what it gives in the engines' usual order, once each.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { pack, type Header } from 'tar-stream';
import { inspectCheckpoint } from '../../../src/analysis/inspect-checkpoint.js';
import type { YaraMatch } from '../../../src/analysis/yara/yara-findings.js';
import { yaraXEngine } from '../../../src/analysis/yara/yara-x-engine.js';
import { REAL_ARCHIVES, realPath, type RealArchive } from '../../helpers/real-checkpoints.js';
import { readTar } from '../../sim-tests/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'amber-yara-reordered-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function repack(from: string, to: string, rank: (name: string) => number): Promise<void> {
  const entries = await readTar(from, () => true);
  entries.sort((x, y) => rank(x.header.name) - rank(y.header.name));
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (b: unknown) => chunks.push(b as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) p.entry({ ...(e.header as Header) }, e.data ?? Buffer.alloc(0));
  p.finalize();
  await done;
  writeFileSync(to, Buffer.concat(chunks));
}

const key = (m: YaraMatch) => JSON.stringify([m.rule, m.where, m.context]);
const rules = yaraXEngine().compile([
  { file: 'canaries.yar', text: 'rule canary { strings: $a = "amber-revshell-canary" $b = "AMBER-REVSHELL-CANARY-5b2e" condition: any of them }' },
]);

t.test('pages before their pagemaps: the same YARA matches as in the usual order, none twice', async (t) => {
  const a = REAL_ARCHIVES.find((x) => x.folder === 'crio-revshell') as RealArchive;
  const scan = async (path: string) => {
    let opens = 0;
    const r = await inspectCheckpoint(
      () => {
        opens++;
        return Readable.from([readFileSync(path)]);
      },
      { yara: rules },
    );
    return { matches: (r.yara?.matches ?? []).map(key).sort(), opens };
  };
  const usual = await scan(realPath(a));
  t.equal(usual.opens, 1);
  t.ok(usual.matches.length >= 6, `${usual.matches.length} matches in the usual order`);
  const isPages = (name: string) => /pages-\d+\.img$/.test(name);
  const orders: [string, (name: string) => number][] = [
    ['pages first', (name) => (isPages(name) ? 0 : 1)],
    ['one pagemap late', (name) => (name.endsWith('/pagemap-10.img') ? 3 : name.endsWith('/pages-4.img') ? 2 : isPages(name) ? 1 : 0)],
    ['mm after the pages', (name) => (/\/mm-\d+\.img$/.test(name) ? 2 : isPages(name) ? 1 : 0)],
  ];
  for (const [label, rank] of orders) {
    const odd = join(dir, `${label.replace(/ /g, '-')}.tar`);
    await repack(realPath(a), odd, rank);
    const r = await scan(odd);
    t.equal(r.opens, 2, `${label}: read twice`);
    t.same(r.matches, usual.matches, `${label}: the same matches`);
  }
});
