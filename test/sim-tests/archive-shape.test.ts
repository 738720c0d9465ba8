/**
 * A simulated checkpoint archive against real ones of the same engine, member by member
 * (test/fixtures/real-checkpoints: CRI-O 1.32 and containerd 2.1 driving runc and CRIU 4.2, the
 * archives the kubelet's checkpoint call leaves).
 *
 * Compared: member names with their per-pid / per-id numbers normalised (core-7.img → core-N.img),
 * their order, modes and kinds; every CRIU image decodes to the key set (recursively) crit printed
 * for the real ones; config.dump / spec.dump / status.dump / status / bind.mounts / deleted.files /
 * descriptors.json key sets; pagemaps in CRIU 4.2's form with PE_LAZY where CRIU puts it; the log,
 * the rootfs diff and the tmpfs tarballs in their real formats.
 *
 * What deliberately differs, and is asserted to be the only difference:
 * - the scenario: three processes (one with two threads) — a shell, a miner with a TCP connection,
 *   a unix socketpair and an open config file, a reverse shell on a TCP socket — against the
 *   fixtures' busybox shells; so the counts of core/mm/pagemap/pages images and every value differ;
 * - files.img: the sim's unix socketpair adds `usk` entries (no real archive holds a unix socket);
 *   its sockets are IPv4, so no `isk.v6only` (CRIU writes it for IPv6 sockets only);
 * - pipes-data.img: CRIU writes it for a pipe with both ends inside the container (the fixtures'
 *   `tail | nc`); the sim's pipes are the container's stdout/stderr to the runtime;
 * - containerd: tcp-stream-<ino>.img, as the sim's container holds established TCP connections
 *   (the containerd fixture had none; the CRI-O revshell one shows CRIU writes them the same way);
 * - containerd status.dump: `mounts` (the sim's pod mounts the kubelet's service-account volume, the
 *   fixture pod had no volume) and `user.linux.uid/gid` (omitted by Go's omitempty for root; the
 *   sim's app runs as uid 1000);
 * - dump.log: the same format and milestones, ~80 lines instead of 70–100 KiB of debug output.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { writeCheckpointArchive } from '../sim/checkpoint-archive.js';
import { imageKind } from '../sim/criu-images.js';
import type { RuntimeLayout } from '../sim/runtime-metadata.js';
import { sampleContainer } from '../sim/sample-container.js';
import { critDecodeImage, keyPaths, loadCritJson, type Crit, type CritImage } from './crit-form.js';
import { readTar, type TarEntry } from './helpers.js';
import { critPath, readRealArchive, REAL_ARCHIVES, type RealArchive } from './real-archives.js';

const dir = mkdtempSync(join(tmpdir(), 'amber-shape-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
async function simArchive(layout: RuntimeLayout): Promise<TarEntry[]> {
  const c = sampleContainer(layout, { pod: 'web-7d4b9c8f6d-x2kzq' }, T0);
  const path = join(dir, `${layout}.tar`);
  await writeCheckpointArchive(path, c, 256 * 1024);
  return readTar(path);
}

const base = (name: string) => name.replace(/^checkpoint\//, '');
/** core-7.img → core-N.img, tcp-stream-1a2b3.img → tcp-stream-N.img, tmpfs-dev-54.tar.gz.img → tmpfs-dev-N.tar.gz.img */
const normalise = (name: string) => name.replace(/-[0-9a-f]+(?=\.img$|\.tar\.gz\.img$)/, '-N');

interface Group {
  name: string;
  modes: Set<number>;
  types: Set<string>;
}
/** Normalised members in order, runs of the same normalised name collapsed into one. */
function groups(entries: readonly TarEntry[]): Group[] {
  const out: Group[] = [];
  for (const e of entries) {
    const name = normalise(e.header.name);
    let g = out[out.length - 1];
    if (g?.name !== name) out.push((g = { name, modes: new Set(), types: new Set() }));
    g.modes.add(e.header.mode ?? -1);
    g.types.add(e.header.type ?? 'file');
  }
  return out;
}

/** Two member sequences in one order: b's members a lacks go in after b's previous member. */
function merge(a: Group[], b: Group[]): Group[] {
  const out = a.map((g) => ({ ...g, modes: new Set(g.modes), types: new Set(g.types) }));
  b.forEach((g, i) => {
    const have = out.find((x) => x.name === g.name);
    if (have) {
      g.modes.forEach((m) => have.modes.add(m));
      g.types.forEach((x) => have.types.add(x));
      return;
    }
    const prev = b
      .slice(0, i)
      .reverse()
      .find((x) => out.some((y) => y.name === x.name));
    out.splice(prev ? out.findIndex((y) => y.name === prev.name) + 1 : 0, 0, { ...g });
  });
  return out;
}

const show = (gs: Group[]) => gs.map((g) => `${g.name} ${[...g.types].join('|')} ${[...g.modes].map((m) => m.toString(8)).join('|')}`);

/** Every CRIU image of an archive, decoded the way crit prints it, grouped by image kind. */
function decodedImages(entries: readonly TarEntry[], real?: RealArchive): Map<string, CritImage[]> {
  const out = new Map<string, CritImage[]>();
  for (const e of entries) {
    const name = base(e.header.name);
    if (!imageKind(name)) continue;
    const img = real ? (loadCritJson(critPath(real, name)) as CritImage) : critDecodeImage(name, e.data ?? Buffer.alloc(0));
    const kind = normalise(name);
    out.set(kind, [...(out.get(kind) ?? []), img]);
  }
  return out;
}

const pathsOf = (imgs: readonly unknown[]) => imgs.reduce<Set<string>>((s, i) => keyPaths(i, '', s), new Set());
const diff = (a: Set<string>, b: Set<string>) => ({ onlySim: [...a].filter((x) => !b.has(x)).sort(), onlyReal: [...b].filter((x) => !a.has(x)).sort() });
const body = (entries: readonly TarEntry[], name: string) => entries.find((e) => e.header.name === name)?.data;
const json = (entries: readonly TarEntry[], name: string): unknown => JSON.parse(body(entries, name)?.toString() ?? 'null');

const realOf = (engine: RuntimeLayout) => REAL_ARCHIVES.filter((a) => a.engine === engine);
const allReal = Promise.all(REAL_ARCHIVES.map(async (a) => ({ a, entries: await readRealArchive(a) })));

/** Members the sim deliberately does not write, or writes where the engine's fixtures had no occasion to. */
const MEMBER_DIFFERENCES: Record<RuntimeLayout, { missing: string[]; extra: string[] }> = {
  crio: { missing: ['checkpoint/pipes-data.img'], extra: [] },
  containerd: { missing: [], extra: ['checkpoint/tcp-stream-N.img'] },
};

for (const engine of ['crio', 'containerd'] as const) {
  t.test(`${engine}: member names (numbers normalised), order, kinds and modes are those of the real archives`, async (t) => {
    const sim = await simArchive(engine);
    const reals = await Promise.all(realOf(engine).map(readRealArchive));
    const real = reals.map(groups).reduce(merge);
    const { missing, extra } = MEMBER_DIFFERENCES[engine];
    const expected = real.filter((g) => !missing.includes(g.name));
    const got = groups(sim);
    t.same(show(got.filter((g) => !extra.includes(g.name))), show(expected), 'normalised names in order, with their kinds and modes');
    for (const name of extra)
      t.ok(
        got.some((g) => g.name === name),
        `${name}: written by the sim only (see the header)`,
      );
    t.same(
      sim.map((e) => [e.header.uid, e.header.gid]).filter(([u, g]) => u !== 0 || g !== 0),
      [],
      'owned by root',
    );
  });

  t.test(`${engine}: every CRIU image decodes to the key set crit printed for the real ones`, async (t) => {
    const sim = decodedImages(await simArchive(engine));
    const real = new Map<string, CritImage[]>();
    for (const { a, entries } of await allReal) {
      for (const [k, v] of decodedImages(entries, a)) real.set(k, [...(real.get(k) ?? []), ...v]);
    }
    // CRIU is the same for both engines (4.2, through runc): the reference is all three real archives.
    const expectedKinds = [...real.keys()].filter((k) => k !== 'pipes-data.img').sort();
    t.same([...sim.keys()].sort(), expectedKinds, 'the same kinds of images (but pipes-data, see the header)');
    for (const [kind, imgs] of sim) {
      const d = diff(pathsOf(imgs), pathsOf(real.get(kind) ?? []));
      if (kind === 'files.img') {
        t.ok(d.onlySim.every((p) => p.startsWith('.entries[].usk')) && d.onlySim.length > 0, 'files.img: only the unix socket entries are extra');
        t.same(d.onlyReal, ['.entries[].isk.v6only'], 'files.img: only v6only is missing (no IPv6 socket)');
      } else {
        t.same(d, { onlySim: [], onlyReal: [] }, kind);
      }
    }
  });

  t.test(
    `${engine}: config.dump, spec.dump, status files, bind.mounts, deleted.files and descriptors.json have the real key sets and formatting`,
    async (t) => {
      const sim = await simArchive(engine);
      const reals = await Promise.all(realOf(engine).map(readRealArchive));
      const names = ['config.dump', 'spec.dump', 'status.dump', 'status', 'bind.mounts', 'deleted.files', 'checkpoint/descriptors.json'];
      const allowed: Record<string, string[]> =
        engine === 'containerd'
          ? { 'status.dump': ['.mounts', '.mounts[].container_path', '.mounts[].host_path', '.mounts[].readonly', '.user.linux.gid', '.user.linux.uid'] }
          : {};
      for (const name of names) {
        const present = reals.filter((r) => body(r, name));
        if (present.length === 0) {
          t.notOk(body(sim, name), `${name}: ${engine} does not write it, nor does the sim`);
          continue;
        }
        const d = diff(keyPaths(json(sim, name)), pathsOf(present.map((r) => json(r, name))));
        t.same(d, { onlySim: allowed[name] ?? [], onlyReal: [] }, `${name} key set`);
        const text = body(sim, name)?.toString() ?? '';
        const realIndented = present.every((r) => (body(r, name)?.toString() ?? '').includes('\n'));
        if (name !== 'checkpoint/descriptors.json')
          t.equal(text.includes('\n'), realIndented, `${name}: ${realIndented ? 'indented' : 'compact'} JSON, as the real one`);
      }
      const spec = json(sim, 'spec.dump') as Crit;
      if (engine === 'crio') {
        t.match(spec.annotations, {
          'io.kubernetes.cri-o.Metadata': '{"name":"app"}',
          'io.kubernetes.cri-o.IP.0': '10.244.1.7',
          'io.kubernetes.pod.name': 'web-7d4b9c8f6d-x2kzq',
        });
      } else {
        t.match(spec.annotations, { 'io.kubernetes.cri.sandbox-name': 'web-7d4b9c8f6d-x2kzq', 'io.kubernetes.cri.container-name': 'app' });
      }
    },
  );

  t.test(`${engine}: pagemaps are in CRIU 4.2's form, PE_LAZY exactly where CRIU puts it (the real ones follow the same rule)`, async (t) => {
    const sim = await simArchive(engine);
    const check = (what: string, img: (name: string) => CritImage, pids: number[]) => {
      let lazy = 0,
        present = 0;
      for (const pid of pids) {
        const [head, ...entries] = img(`pagemap-${pid}.img`).entries as [Crit, ...Crit[]];
        if (typeof head.pages_id !== 'number') t.fail(`${what} pid ${pid}: no pagemap head`);
        const vmas = (img(`mm-${pid}.img`).entries[0]!.vmas as Crit[]).map((v) => ({
          start: BigInt(v.start),
          end: BigInt(v.end),
          flags: String(v.flags),
          status: String(v.status),
        }));
        for (const e of entries) {
          const at = BigInt(e.vaddr);
          const vma = vmas.find((v) => at >= v.start && at < v.end);
          // criu/include/vma.h vma_entry_can_be_lazy: private anonymous, not vdso/vvar/vsyscall
          const canBeLazy = !!vma && vma.flags.includes('MAP_ANON') && vma.flags.includes('MAP_PRIVATE') && !/VDSO|VVAR|VSYSCALL/.test(vma.status);
          const ok =
            e.compat_nr_pages === 0 && typeof e.nr_pages === 'number' && e.nr_pages > 0 && e.flags === (canBeLazy ? 'PE_LAZY | PE_PRESENT' : 'PE_PRESENT');
          if (!ok) t.fail(`${what} pid ${pid} ${e.vaddr}: ${JSON.stringify(e)} in ${vma ? `${vma.flags}, ${vma.status}` : 'no VMA'}`);
          if (canBeLazy) lazy++;
          else present++;
        }
      }
      t.ok(lazy > 0 && present > 0, `${what}: ${lazy} PE_LAZY | PE_PRESENT entries, ${present} PE_PRESENT, compat_nr_pages = 0`);
    };
    const pstree = (img: (n: string) => CritImage) => img('pstree.img').entries.map((p) => p.pid as number);
    const simImg = (name: string) => critDecodeImage(name, body(sim, `checkpoint/${name}`) ?? Buffer.alloc(0));
    check('sim', simImg, pstree(simImg));
    for (const a of realOf(engine)) {
      const realImg = (name: string) => loadCritJson(critPath(a, name)) as CritImage;
      check(a.dir, realImg, pstree(realImg));
    }
  });

  t.test(`${engine}: dump.log, the log member, rootfs-diff.tar, the tmpfs tarballs and descriptors.json in the real formats`, async (t) => {
    const sim = await simArchive(engine);
    const reals = await Promise.all(realOf(engine).map(readRealArchive));
    for (const [what, entries] of [['sim', sim], ...reals.map((r, i) => [realOf(engine)[i]!.dir, r] as const)] as const) {
      const log = body(entries, 'dump.log')?.toString() ?? '';
      const lines = log.trimEnd().split('\n');
      // A record is "(SS.uuuuuu) message" or the parasite's "pie: <pid>: message"; only a logged multi-line cgroup value goes on over more lines.
      const record = (l: string) => /^(\(\d\d\.\d{6}\) |pie: \d+: )/.test(l);
      const stray = lines.filter((l, i) => !record(l) && !/ cg: Dumping value /.test(lines.slice(0, i).reverse().find(record) ?? ''));
      t.same(stray, [], `${what}: dump.log is made of CRIU's log records`);
      t.ok(
        lines.some((l) => !record(l)),
        `${what}: with a multi-line value`,
      );
      t.ok(
        lines.some((l) => l.startsWith('pie: 1: ')),
        `${what}: the parasite's lines are there`,
      );
      t.match(log, /^\(00\.0\d{5}\) Version: 4\.2 \(gitid 0\)$/m, `${what}: CRIU 4.2`);
      t.match(lines[lines.length - 1], /\) Dumping finished successfully$/, `${what}: ends as a successful dump does`);
      const seized = lines.filter((l) => /\) Seized task \d+, state 1$/.test(l)).length;
      t.equal(
        seized,
        critDecodeImage('pstree.img', body(entries, 'checkpoint/pstree.img') ?? Buffer.alloc(0)).entries.length,
        `${what}: one "Seized task" per process`,
      );
      const repaired = lines
        .map((l) => /Turning repair on for socket ([0-9a-f]+)$/.exec(l)?.[1])
        .filter((x) => x !== undefined)
        .sort();
      const streams = entries
        .map((e) => /^checkpoint\/tcp-stream-([0-9a-f]+)\.img$/.exec(e.header.name)?.[1])
        .filter((x) => x !== undefined)
        .sort();
      t.same(repaired, streams, `${what}: a tcp-stream image for each socket CRIU put in repair mode`);

      const logMember = body(entries, engine === 'crio' ? 'io.kubernetes.cri-o.LogPath' : 'container.log')?.toString() ?? '';
      t.same(
        logMember.split('\n').filter((l) => l !== '' && !/^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] /.test(l)),
        [],
        `${what}: the log member is the CRI log`,
      );

      const rootfs = body(entries, 'rootfs-diff.tar') ?? Buffer.alloc(0);
      if (engine === 'crio') t.equal(rootfs.toString('latin1', 257, 262), 'ustar', `${what}: CRI-O's rootfs-diff.tar is a plain tar`);
      else t.same([rootfs[0], rootfs[1]], [0x1f, 0x8b], `${what}: containerd's rootfs-diff.tar is gzip despite its name`);

      const descriptors = json(entries, 'checkpoint/descriptors.json') as string[];
      const files = critDecodeImage('files.img', body(entries, 'checkpoint/files.img') ?? Buffer.alloc(0)).entries;
      const fd1 = critDecodeImage('fdinfo-2.img', body(entries, 'checkpoint/fdinfo-2.img') ?? Buffer.alloc(0)).entries.filter((f) => f.fd === 1 || f.fd === 2);
      const pipeIds = fd1.map((f) => files.find((x) => x.id === f.id)?.pipe?.pipe_id as number | undefined);
      t.same(descriptors, ['/dev/null', ...pipeIds.map((p) => `pipe:[${p}]`)], `${what}: descriptors.json names pid 1's stdin and its stdout/stderr pipes`);
    }
    const devTar = async (entries: readonly TarEntry[]) => {
      for (const e of entries.filter((x) => /tmpfs-dev-\d+\.tar\.gz\.img$/.test(x.header.name))) {
        const names = (await readTar(gunzipSync(e.data ?? Buffer.alloc(0)))).map((x) => x.header.name);
        if (names.includes('./null')) return names.sort();
      }
      return [];
    };
    t.same(await devTar(sim), await devTar(reals[0]!), '/dev tmpfs tarball: the same device nodes and links');
  });
}
