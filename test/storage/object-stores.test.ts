import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { FileStore } from '../../src/storage/file-store.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function fileStore(t: { teardown(fn: () => unknown): void }): Promise<FileStore> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return new FileStore(dir);
}

for (const [name, make] of [
  ['FileStore', fileStore],
  ['MemoryStore', async () => new MemoryStore()],
] as const) {
  t.test(`${name}: stores, reads back, lists, and never overwrites`, async (t) => {
    const store: ObjectStore = await make(t);
    const stored = await store.put('a/b/manifest.json', Readable.from(['{"x":1}']), { sha256: sha('{"x":1}') });
    t.same(stored, { key: 'a/b/manifest.json', size: 7, sha256: sha('{"x":1}') });
    t.equal(await text(await store.get('a/b/manifest.json')), '{"x":1}');
    t.same(await store.head('a/b/manifest.json'), { size: 7 });
    t.equal(await store.head('a/b/none'), undefined);
    await store.put('a/c/other', Readable.from(['y']));
    t.same(await store.list('a/b/'), ['a/b/manifest.json']);
    t.same(await store.list('a/'), ['a/b/manifest.json', 'a/c/other']);
    await t.rejects(store.put('a/b/manifest.json', Readable.from(['{"x":2}'])), { code: 'STORE_EXISTS' });
    t.equal(await text(await store.get('a/b/manifest.json')), '{"x":1}', 'the original is untouched');
    await t.rejects(store.get('nope'), { code: 'STORE_NOT_FOUND' });
  });

  t.test(`${name}: a body whose hash does not match leaves nothing under the key`, async (t) => {
    const store: ObjectStore = await make(t);
    await t.rejects(store.put('k', Readable.from(['tampered']), { sha256: sha('original') }), { code: 'STORE_HASH_MISMATCH' });
    t.equal(await store.head('k'), undefined);
    t.same(await store.list(''), []);
  });
}

t.test('FileStore: a stream that fails half-way leaves neither the object nor a temp file', async (t) => {
  const store = await fileStore(t);
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(64 * 1024));
      this.destroy(new Error('connection reset'));
    },
  });
  await t.rejects(store.put('bundle/checkpoint.tar', failing), /connection reset/);
  t.equal(await store.head('bundle/checkpoint.tar'), undefined);
  t.same(await readdir(join(store.root, 'bundle')), [], 'no .partial file left behind');
});

t.test('FileStore: refuses keys that would leave the store', async (t) => {
  const store = await fileStore(t);
  for (const key of ['../escape', 'a/../../escape', '/etc/passwd', '']) {
    await t.rejects(store.put(key, Readable.from(['x'])), { code: 'STORE_BAD_KEY' }, key);
  }
  t.match(store.uri('a/b'), /^file:\/\/\/.*\/a\/b$/);
});

t.test('FileStore: memory stays flat while streaming 512 MiB', async (t) => {
  const store = await fileStore(t);
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let sent = 0;
  const big = new Readable({
    read() {
      if (sent >= 512) return void this.push(null);
      sent++;
      this.push(chunk);
    },
  });
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const stored = await store.put('big.tar', big);
  clearInterval(timer);
  t.equal(stored.size, 512 * 1024 * 1024);
  t.ok(peak - before < 100 * 1024 * 1024, `RSS grew ${Math.round((peak - before) / 1048576)} MiB`);
});

t.test('FileStore.putFile takes a local file without copying, write-once, and declines another filesystem', async (t) => {
  const store = await fileStore(t);
  const { writeFile, stat: statFile, mkdtemp: mk } = await import('node:fs/promises');
  const src = join(store.root, '..', `archive-${process.pid}.tar`);
  t.teardown(() => rm(src, { force: true }));
  await writeFile(src, 'checkpoint bytes');
  const inode = (await statFile(src)).ino;
  t.equal(await store.putFile('b/checkpoint-app.tar', src), undefined, 'not given away (no take): the file store declines, the caller copies');
  const stored = await store.putFile('b/checkpoint-app.tar', src, { take: true });
  t.same(stored, { key: 'b/checkpoint-app.tar', size: 16, sha256: sha('checkpoint bytes') });
  t.equal((await statFile(join(store.root, 'b/checkpoint-app.tar'))).ino, inode, 'same inode: no copy');
  await t.rejects(statFile(src), 'the old name is gone: nobody can rewrite the evidence through it');
  await writeFile(src, 'a second checkpoint in the same second');
  await t.rejects(store.putFile('b/checkpoint-app.tar', src, { take: true }), { code: 'STORE_EXISTS' });
  t.equal(await text(await store.get('b/checkpoint-app.tar')), 'checkpoint bytes', 'the original is untouched');
  t.equal((await statFile(src)).size, 38, 'a file not taken stays where it was');
  const shm = '/dev/shm';
  const other = await mk(join(shm, 'amber-')).catch(() => undefined);
  if (other === undefined) {
    t.comment('no /dev/shm here: the other-filesystem case is not checked');
    return;
  }
  t.teardown(() => rm(other, { recursive: true, force: true }));
  await writeFile(join(other, 'a.tar'), 'x');
  t.equal(await store.putFile('d/a.tar', join(other, 'a.tar'), { take: true }), undefined, 'another filesystem: the caller streams instead');
  t.equal((await statFile(join(other, 'a.tar'))).size, 1, 'and the file is still there');
});
