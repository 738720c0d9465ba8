import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { JsonlJournal } from '../../src/queue/file/jsonl-journal.js';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-journal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// One group commit with ASCII and non-ASCII lines: the positions must count bytes, not characters.
const records = [
  { v: 1, text: 'plain ascii' },
  { v: 1, text: 'pod café-0, container 日本, 😀 and a lone \ud800 surrogate' },
  { v: 1, text: 'ascii again, after the multi-byte one' },
];

t.test('append gives each record its byte position, and read returns the record there', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await JsonlJournal.open(dir, 'j.jsonl');
  t.teardown(() => journal.close());
  const positions = await Promise.all(records.map((r) => journal.append(r))); // written together
  const file = await readFile(join(dir, 'j.jsonl'));
  for (const [i, at] of positions.entries()) {
    t.same(JSON.parse(file.subarray(at.offset, at.offset + at.length).toString('utf8')), records[i], `line ${i + 1} is where its position says`);
    t.equal(file[at.offset + at.length], 0x0a, 'and ends at its newline');
    t.same(await journal.read(at), records[i]);
  }
  const later = await journal.append({ v: 1, text: 'a second batch' });
  t.equal(later.offset, file.length, 'the next batch starts where the last one ended');
  t.same(await journal.read(later), { v: 1, text: 'a second batch' });
});

t.test('open gives the positions of the records already in the file, and compact the new ones', async (t) => {
  const dir = await tempDir(t);
  const first = await JsonlJournal.open(dir, 'j.jsonl');
  for (const r of records) await first.journal.append(r);
  await first.journal.close();
  const { journal, records: replayed } = await JsonlJournal.open(dir, 'j.jsonl');
  t.teardown(() => journal.close());
  t.same(
    replayed.map((r) => r.value),
    records,
  );
  for (const r of replayed) t.same(await journal.read(r.at), r.value);
  const kept = [records[2], records[1]];
  const positions = await journal.compact(kept);
  for (const [i, at] of positions.entries()) t.same(await journal.read(at), kept[i], 'read from the compacted file');
  t.same(await journal.read(await journal.append({ v: 1, text: 'after compaction' })), { v: 1, text: 'after compaction' });
});

t.test('a record that is not where its position says is reported as corruption', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await JsonlJournal.open(dir, 'j.jsonl');
  t.teardown(() => journal.close());
  const at = await journal.append(records[0]);
  await t.rejects(journal.read({ offset: at.offset + 1, length: at.length }), { code: 'QUEUE_CORRUPT' });
  await t.rejects(journal.read({ offset: at.offset, length: at.length + 10 }), {
    code: 'QUEUE_CORRUPT',
    details: { problem: 'record past the end of the file' },
  });
});
