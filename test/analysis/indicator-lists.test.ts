/**
 * IndicatorLists: the lists of the settings, refused at start when broken, reloaded while the
 * server runs when a file changes, and kept at their last good version when an edit breaks one
 * (read through the real log output).
 */
import t from 'tap';
import { mkdtemp, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/cli/create-logger.js';
import { IndicatorLists, type ListFiles, type ListTimers } from '../../src/analysis/lists/indicator-lists.js';
import type { IndicatorList, ListSpec } from '../../src/analysis/lists/indicator-list.js';
import { LogSink } from '../helpers/log-sink.js';

const dir = await mkdtemp(join(tmpdir(), 'amber-lists-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

let n = 0;
/** A list file of its own per test, and a spec naming it. */
async function listFile(text: string, kind: ListSpec['kind'] = 'address'): Promise<ListSpec> {
  const path = join(dir, `list-${++n}.txt`);
  await writeFile(path, text);
  return { name: `c2-${n}`, kind, path };
}

/** Rewrites a file and moves its mtime on, as a later save would (a test may write twice within a clock tick). */
async function edit(path: string, text: string): Promise<void> {
  const before = await stat(path);
  await writeFile(path, text);
  const later = new Date(before.mtimeMs + 5000);
  await utimes(path, later, later);
}

const entries = (lists: readonly IndicatorList[]) => lists.map((l) => (l.kind === 'address' ? l.addresses.map((a) => a.entry) : []));

t.test('loading refuses a bad line (file and line), a missing file, and two lists of one name', async (t) => {
  const bad = await listFile('203.0.113.7\n# next is wrong\n203.0.113.300\n');
  await t.rejects(IndicatorLists.load([bad]), { code: 'INDICATOR_LIST_INVALID', details: { file: bad.path, line: 3 } });
  await t.rejects(IndicatorLists.load([{ name: 'gone', kind: 'domain', path: join(dir, 'nope.txt') }]), {
    code: 'INDICATOR_LIST_UNREADABLE',
    details: { file: join(dir, 'nope.txt') },
  });
  const good = await listFile('203.0.113.7\n');
  await t.rejects(IndicatorLists.load([good, { ...good, kind: 'domain' }]), { code: 'CONFIG_INVALID', details: { setting: 'analysis.lists[1].name' } });
});

t.test('an edit is picked up by the next use, and logged', async (t) => {
  const spec = await listFile('203.0.113.7\n');
  const logs = new LogSink();
  const lists = await IndicatorLists.load([spec], { log: createLogger('info', logs) });
  t.same(entries(await lists.current()), [['203.0.113.7']]);
  await edit(spec.path, '203.0.113.7\n198.51.100.0/24:443\n');
  const now = await lists.current();
  t.same(entries(now), [['203.0.113.7', '198.51.100.0/24:443']]);
  t.equal(now[0]?.sha256.length, 64);
  t.match(logs.find('indicator list reloaded'), [{ level: 30, list: spec.name, file: spec.path, entries: 2, sha256: now[0]?.sha256 }]);
  t.equal((await lists.current())[0], now[0], 'an unchanged file is not read again');
});

t.test('an edit that breaks a list keeps the last good one and logs the file and line once', async (t) => {
  const spec = await listFile('203.0.113.7\n');
  const logs = new LogSink();
  const lists = await IndicatorLists.load([spec], { log: createLogger('info', logs) });
  const good = (await lists.current())[0];

  await edit(spec.path, '203.0.113.7\n203.0.113.8\nnot-an-address\n');
  t.equal((await lists.current())[0], good, 'the last good version stays in use');
  t.equal((await lists.current())[0], good);
  const errors = logs.find('indicator list not reloaded: its last good version stays in use');
  t.equal(errors.length, 1, 'one broken version, one error');
  t.match(errors[0], {
    level: 50,
    list: spec.name,
    file: spec.path,
    kept: { sha256: good?.sha256, entries: 1 },
    err: { code: 'INDICATOR_LIST_INVALID', details: { line: 3, problem: /not-an-address/ } },
  });

  await edit(spec.path, '203.0.113.9\n');
  t.same(entries(await lists.current()), [['203.0.113.9']], 'a fixed file is read again');

  await unlink(spec.path);
  t.same(entries(await lists.current()), [['203.0.113.9']], 'a file that went away keeps its list too');
  t.match(logs.find('indicator list not reloaded: its last good version stays in use').at(-1), { err: { code: 'INDICATOR_LIST_UNREADABLE' } });
});

t.test('a ConfigMap-style swap (a new file renamed over the old) is seen: the check is a stat, not a watch', async (t) => {
  const spec = await listFile('203.0.113.7\n');
  const lists = await IndicatorLists.load([spec]);
  const next = `${spec.path}.new`;
  await writeFile(next, '192.0.2.1\n');
  await rename(next, spec.path);
  t.same(entries(await lists.current()), [['192.0.2.1']]);
});

t.test('the periodic check logs a broken edit without a report asking, and stops when told', async (t) => {
  const spec = await listFile('203.0.113.7\n');
  const logs = new LogSink();
  const lists = await IndicatorLists.load([spec], { log: createLogger('info', logs) });
  const ticks: (() => void)[] = [];
  let cleared = false;
  const timers: ListTimers = {
    setInterval: (fn, ms) => {
      t.equal(ms, 30_000);
      ticks.push(fn);
      return 7;
    },
    clearInterval: (h) => {
      t.equal(h, 7);
      cleared = true;
    },
  };
  const stop = lists.watch(30_000, timers);
  await edit(spec.path, '203.0.113.7/33\n');
  ticks[0]?.();
  await lists.current(); // the tick's own check, joined
  t.match(logs.find('indicator list not reloaded: its last good version stays in use'), [{ err: { details: { line: 1 } } }]);
  stop();
  t.ok(cleared);
});

t.test('concurrent reports share one check: a changed file is read once', async (t) => {
  const spec = await listFile('203.0.113.7\n');
  let reads = 0;
  const files: ListFiles = {
    readFile: async (p) => {
      reads++;
      return readFile(p);
    },
    stat: (p) => stat(p),
  };
  const lists = await IndicatorLists.load([spec], { files });
  await edit(spec.path, '203.0.113.8\n');
  reads = 0;
  const [a, b] = await Promise.all([lists.current(), lists.current()]);
  t.equal(reads, 1);
  t.equal(a, b);
});
