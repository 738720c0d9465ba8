/**
 * Indicator lists matched on the archives real engines wrote (test/fixtures/real-checkpoints):
 * every expectation is derived from ground-truth.json (what /proc said before the checkpoint)
 * or from the archive's own members, never from our reading of it.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { inspectCheckpoint } from '../../src/analysis/inspect-checkpoint.js';
import { readFileChunks } from '../../src/analysis/archive/read-file-chunks.js';
import type { Inspection } from '../../src/analysis/inspection.js';
import { parseIndicatorList, type IndicatorList, type ListKind } from '../../src/analysis/lists/indicator-list.js';
import { ListMatcher } from '../../src/analysis/lists/list-matcher.js';
import { MemorySearch } from '../../src/analysis/memory-search.js';
import type { Indicator } from '../../src/analysis/triage-indicators.js';
import { groundTruth, REAL_ARCHIVES, realMembers, realPath, type Json, type RealArchive } from '../helpers/real-checkpoints.js';

const list = (name: string, kind: ListKind, lines: string[], severity?: Indicator['severity']) =>
  parseIndicatorList({ name, kind, path: `/lists/${name}`, ...(severity && { severity }) }, Buffer.from(lines.join('\n')));

async function match(a: RealArchive, lists: IndicatorList[]): Promise<{ inspection: Inspection; found: Indicator[] }> {
  const matcher = new ListMatcher(lists);
  const { inspection } = await inspectCheckpoint(() => readFileChunks(realPath(a)), matcher.scan ? { scan: matcher.scan } : {});
  return { inspection, found: matcher.indicators(inspection) };
}

const byFolder = (folder: string) => REAL_ARCHIVES.find((a) => a.folder === folder) as RealArchive;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const unescape = (s: string) =>
  Buffer.from(s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\\n/g, '\n'), 'latin1');

/**
 * The bytes of an added file as ground truth describes them: `/tmp/.x/dropper (0755, 42 bytes,
 * starts with \x7fELF… then 9 NULs then '…\n')` or `/tmp/.x/kdevtmpfsi (0755, 5 bytes: \x7fELFx)`.
 */
function describedFiles(gt: Json): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const line of gt['files_added'] as string[]) {
    const m = /^(\S+) \(\d{4}, (\d+) bytes(?:, starts with (\S+) then (\d+) NULs then '(.*)'|: (\S+))\)$/.exec(line);
    if (!m) continue;
    const bytes = m[6] !== undefined ? unescape(m[6]) : Buffer.concat([unescape(m[3] as string), Buffer.alloc(Number(m[4])), unescape(m[5] as string)]);
    if (bytes.length !== Number(m[2])) throw new Error(`ground truth says ${m[2]} bytes for ${m[1]}, the description makes ${bytes.length}`);
    out.push({ path: m[1] as string, bytes });
  }
  return out;
}

/** A file's bytes as the archive's rootfs-diff.tar member holds them (gzip in containerd's). */
async function diffFile(a: RealArchive, path: string): Promise<Buffer | undefined> {
  let tar = (await realMembers(a)).get('rootfs-diff.tar') as Buffer;
  if (tar[0] === 0x1f && tar[1] === 0x8b) tar = gunzipSync(tar);
  const ex = extract();
  let found: Buffer | undefined;
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (`/${entry.header.name.replace(/^\.\//, '')}` === path) found = Buffer.concat(chunks);
    }
  })();
  ex.end(tar);
  await done;
  return found;
}

const kdevtmpfsi = describedFiles(groundTruth(byFolder('ctrd-app')))[0] as { path: string; bytes: Buffer };

for (const folder of ['shell', 'shell-gzip', 'crio-shell', 'ctrd-app']) {
  const a = byFolder(folder);
  t.test(`${a.file}: a file the container dropped is matched by its SHA-256; other hashes are not`, async (t) => {
    const gt = groundTruth(a);
    const [dropped] = describedFiles(gt);
    if (!dropped) throw new Error('ground truth describes the dropped file');
    t.equal(
      sha256((await diffFile(a, dropped.path)) ?? Buffer.alloc(0)),
      sha256(dropped.bytes),
      "the archive's rootfs diff holds the bytes ground truth describes",
    );
    const flipped = Buffer.from(dropped.bytes);
    flipped.writeUInt8((flipped.at(-1) ?? 0) ^ 1, flipped.length - 1);
    const others = [sha256(flipped), ...(folder === 'ctrd-app' ? [] : [sha256(kdevtmpfsi.bytes)])];
    const hashes = list('campaign-hashes', 'sha256', ['# hashes of the campaign', ...others, `${sha256(dropped.bytes).toUpperCase()}  # dropper`]);
    const { found } = await match(a, [hashes]);
    const runners = (gt['processes'] as Json[]).filter((p) => p['exe'] === dropped.path).map((p) => p['container_pid'] as number);
    t.same(
      found.filter((i) => i.pid !== undefined).map((i) => i.pid),
      runners,
      'a process running the file would be named too (ground truth: none does)',
    );
    t.same(
      found.filter((i) => i.pid === undefined).map((i) => ({ id: i.id, severity: i.severity, path: i.path, evidence: i.evidence })),
      [
        {
          id: 'listed-hash',
          severity: 'high',
          path: dropped.path,
          evidence: {
            list: 'campaign-hashes',
            entry: sha256(dropped.bytes).toUpperCase(),
            note: 'dropper',
            sha256: sha256(dropped.bytes),
            size: dropped.bytes.length,
            mode: '0755',
            in: 'rootfs-diff',
          },
        },
      ],
      'the dropped file, and no other entry',
    );
  });
}

/** `ss -tanup` lines of ground truth: both ends, as written, and the container pids using the socket. */
function connections(gt: Json): { local: string; peer: string; pids: number[] }[] {
  const hostToContainer = new Map((gt['processes'] as Json[]).map((p) => [p['host_pid'] as number, p['container_pid'] as number]));
  const lines: string[] = gt['sockets_ss_tanuwp'] ?? gt['sockets_ss_tanuwxp'] ?? [];
  return lines.slice(1).map((l) => {
    const [, , , , local, peer, users = ''] = l.trim().split(/\s+/) as string[];
    const pids = [...new Set([...users.matchAll(/pid=(\d+)/g)].map((m) => hostToContainer.get(Number(m[1])) as number))];
    return { local: local as string, peer: peer as string, pids };
  });
}
/** `[::ffff:127.0.0.1]:4444` → `127.0.0.1:4444`, as a person reads a mapped address. */
const unmapped = (end: string) => end.replace(/^\[::ffff:([\d.]+)\]/, '$1');

for (const folder of ['revshell', 'crio-revshell']) {
  const a = byFolder(folder);
  t.test(`${a.file}: the shell's connection to the handler is matched on both sockets, mapped IPv6 as IPv4`, async (t) => {
    const conns = connections(groundTruth(a));
    const shell = conns.find((c) => /:4444$/.test(c.peer)) as { local: string; peer: string };
    t.ok(shell, 'ground truth has the connection to port 4444');
    const handler = shell.peer; // 127.0.0.1:4444
    const localPort = Number(shell.local.slice(shell.local.lastIndexOf(':') + 1));
    const c2 = list('c2', 'address', [handler, `127.0.0.1:${localPort + 1}`, '127.0.0.2', '[::1]:4444', '10.0.0.0/8', '[2001:db8::/32]:4444'], 'medium');
    const { found } = await match(a, [c2]);
    const expected = conns.flatMap((c) => {
      const sides = [...(unmapped(c.peer) === handler ? ['remote'] : []), ...(unmapped(c.local) === handler ? ['local'] : [])];
      return sides.length === 0 ? [] : c.pids.map((pid) => ({ pid, entry: handler, sides }));
    });
    t.equal(expected.length, 2, 'ground truth: the shell (remote end) and nc (its local end, a dual-stack socket)');
    t.same(
      found.map((i) => ({ pid: i.pid, entry: i.evidence?.['entry'], sides: i.evidence?.['sides'] })).sort((x, y) => (x.pid ?? 0) - (y.pid ?? 0)),
      expected.sort((x, y) => x.pid - y.pid),
      'one indicator per socket, none for the other entries',
    );
    t.ok(
      found.every((i) => i.id === 'listed-address' && i.severity === 'medium' && i.evidence?.['list'] === 'c2'),
      'the list names itself and its severity',
    );

    const mappedBlock = list('loopback', 'address', ['::ffff:127.0.0.0/104']);
    const both = (await match(a, [mappedBlock])).found;
    t.same(
      both.map((i) => i.evidence?.['sides']),
      conns.filter((c) => c.pids.length > 0).flatMap((c) => c.pids.map(() => ['remote', 'local'])),
      'an entry written as a mapped block matches IPv4 and dual-stack ends alike',
    );
  });
}

t.test('an address list finds nothing in an archive without sockets', async (t) => {
  const a = byFolder('shell');
  t.same(connections(groundTruth(a)), [], 'ground truth: no sockets');
  const { found } = await match(a, [list('any', 'address', ['0.0.0.0/0', '::/0'])]);
  t.same(found, []);
});

/** Occurrences of a name in the raw pages files, on the boundaries a listed domain is matched on. */
async function rawCount(a: RealArchive, domain: string): Promise<number> {
  const re = new RegExp(`(?<![A-Za-z0-9_-])${domain.replace(/\./g, '\\.')}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9_-])`, 'gi');
  let n = 0;
  for (const [name, data] of await realMembers(a)) if (/^checkpoint\/pages-\d+\.img$/.test(name)) n += [...data.toString('latin1').matchAll(re)].length;
  return n;
}

t.test(`${byFolder('ctrd-app').file}: the pool's domain is found in the miner's memory; near names are not`, async (t) => {
  const a = byFolder('ctrd-app');
  const gt = groundTruth(a);
  const holders = (gt['processes'] as Json[])
    .filter((p) => [...(p['cmdline'] as string[]), ...(p['env'] as string[])].some((s) => /\bpool\.example\b/.test(s)))
    .map((p) => p['container_pid'] as number);
  t.same(holders, [1], "ground truth: pid 1's argv names stratum+tcp://pool.example:3333");
  const pools = list('pools', 'domain', ['# mining pools', 'ol.example', 'pool.exam', 'stratum.pool.example', 'POOL.EXAMPLE. # upper case, FQDN']);
  const more = list('more-pools', 'domain', ['pool.example', 'example.pool']);
  const { inspection, found } = await match(a, [pools, more]);
  t.same(inspection.warnings, []);
  t.same(
    found.map((i) => ({ id: i.id, pid: i.pid, list: i.evidence?.['list'], entry: i.evidence?.['entry'] })),
    [
      ...holders.map((pid) => ({ id: 'listed-domain', pid, list: 'pools', entry: 'POOL.EXAMPLE.' })),
      ...holders.map((pid) => ({ id: 'listed-domain', pid, list: 'more-pools', entry: 'pool.example' })),
    ],
    'each list that names the domain says so; ol.example (inside pool.example), pool.exam and a subdomain that is not there do not match',
  );
  const first = found[0];
  t.match(first?.evidence, { domain: 'pool.example', address: /^0x[0-9a-f]+$/, context: /stratum\+tcp:\/\/pool\.example:3333/ });
  const counted = found.filter((i) => i.evidence?.['list'] === 'pools').reduce((n, i) => n + (i.evidence?.['matches'] as number), 0);
  t.equal(counted, await rawCount(a, 'pool.example'), 'every occurrence in the pages files is counted, once');
});

t.test('hand-made inspection: a running dropped executable, a hard link to it, a deleted one', async (t) => {
  const bytes = Buffer.from('\x7fELF-sample', 'latin1');
  const inspection: Inspection = {
    container: {},
    processes: [
      { pid: 3, ppid: 1, comm: 'xmr', threads: [3], exe: '/tmp/xmr', cmdline: [], env: [], files: [], sockets: [] },
      { pid: 4, ppid: 1, comm: 'link', threads: [4], exe: '/usr/bin/link', cmdline: [], env: [], files: [], sockets: [] },
      { pid: 5, ppid: 1, comm: 'gone', threads: [5], exe: '/tmp/xmr (deleted)', cmdline: [], env: [], files: [], sockets: [] },
    ],
    rootfsDiff: {
      added: [
        { path: '/tmp/xmr', type: 'file', size: bytes.length, mode: '0755', sha256: sha256(bytes), executable: true },
        { path: '/usr/bin/link', type: 'hardlink', size: 0, mode: '0755', executable: true, linkTarget: '/tmp/xmr' },
      ],
      deleted: [],
    },
    stats: {},
    warnings: [],
  };
  const found = new ListMatcher([list('h', 'sha256', [sha256(bytes)])]).indicators(inspection);
  t.same(
    found.map((i) => [i.path, i.pid, i.evidence?.['in']]),
    [
      ['/tmp/xmr', undefined, 'rootfs-diff'],
      ['/usr/bin/link', undefined, 'rootfs-diff'],
      ['/tmp/xmr', 3, 'executable'],
      ['/usr/bin/link', 4, 'executable'],
    ],
    "a deleted executable's bytes are not in the archive: pid 5 is not matched",
  );
});

t.test('synthetic memory: names across chunk boundaries, in any case, under noise that does not count toward the limit', async (t) => {
  const noise = Array.from({ length: 20_000 }, (_, i) => `lib${i}.so.6`).join(' ');
  const memory = Buffer.from(`${noise} GET HTTP://CDN.Pool.Example/x notpool.example ${noise} pool.example.evil.net wss://pool.example:443 `, 'latin1');
  const pages = Buffer.concat([memory, Buffer.alloc(4096 - (memory.length % 4096))]);
  const processes = [
    {
      pid: 9,
      ppid: 1,
      pgid: 9,
      sid: 9,
      threads: [9],
      fds: [],
      pagemap: { pagesId: 1, runs: [{ vaddr: 0x7f0000000000, nrPages: pages.length / 4096, offset: 0, inParent: false, lazy: false, inFile: true }] },
    },
  ];
  for (const chunk of [pages.length, 4096, 1000, 7]) {
    const matcher = new ListMatcher([list('pools', 'domain', ['pool.example'])]);
    const scan = matcher.scan;
    if (!scan) throw new Error('a domain list has a scan');
    // a limit far below the noise: only listed names count toward it
    const search = new MemorySearch(processes, scan.pattern, { maxMatches: 10, accept: scan.accept, onMatch: scan.onMatch, windowBytes: 1 << 12 });
    for (let o = 0; o < pages.length; o += chunk) search.feed('pages-1.img', o, pages.subarray(o, o + chunk));
    search.end('pages-1.img');
    t.same(search.result().warnings, [], `chunks of ${chunk}: no limit reached`);
    const at = memory.indexOf('CDN.Pool.Example');
    const [found] = matcher.indicators({ container: {}, processes: [], rootfsDiff: { added: [], deleted: [] }, stats: {}, warnings: [] });
    t.match(
      found?.evidence,
      { domain: 'pool.example', found: 'cdn.pool.example', matches: 2, address: `0x${(0x7f0000000000 + at).toString(16)}` },
      `chunks of ${chunk}: the subdomain in upper case and the name with a port; not notpool.example nor pool.example.evil.net`,
    );
  }

  // a name under two listed domains (of two lists) is each list's indicator
  const matcher = new ListMatcher([list('pools', 'domain', ['pool.example']), list('cdn', 'domain', ['cdn.pool.example'])]);
  const scan = matcher.scan as NonNullable<typeof matcher.scan>;
  const search = new MemorySearch(processes, scan.pattern, { maxMatches: 10, accept: scan.accept, onMatch: scan.onMatch });
  search.feed('pages-1.img', 0, pages);
  search.end('pages-1.img');
  t.same(
    matcher
      .indicators({ container: {}, processes: [], rootfsDiff: { added: [], deleted: [] }, stats: {}, warnings: [] })
      .map((i) => [i.evidence?.['list'], i.evidence?.['domain'], i.evidence?.['matches']]),
    [
      ['pools', 'pool.example', 2],
      ['cdn', 'cdn.pool.example', 1],
    ],
  );
});
