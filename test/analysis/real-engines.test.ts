/**
 * Every real archive in test/fixtures/real-checkpoints (Podman 4.3, CRI-O 1.32, containerd 2.1, all
 * driving CRIU 4.2; see its README), plus the zstd copy of shell.tar, read by `inspectCheckpoint`
 * and held against what checkpointctl 1.5.0 printed for the same archive (`checkpointctl-1.5.0/`)
 * and the ground truth read from /proc before the checkpoint (`ground-truth.json`). Where
 * checkpointctl is wrong, the test says so and holds us to the truth instead.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectCheckpoint } from '../../src/analysis/inspect-checkpoint.js';
import type { Inspection, InspectedProcess } from '../../src/analysis/inspection.js';
import { readFileChunks } from '../../src/analysis/archive/read-file-chunks.js';
import { REAL_ARCHIVES } from '../helpers/real-checkpoints.js';

const REAL = join(import.meta.dirname, '../fixtures/real-checkpoints');

interface Case {
  file: string;
  dir: string;
  engine: 'podman' | 'cri-o' | 'containerd';
  compression: 'none' | 'gzip' | 'zstd';
}
const CASES: Case[] = [
  ...REAL_ARCHIVES.map((a): Case => ({ file: a.file, dir: a.folder, engine: a.engine, compression: a.file.endsWith('.gz') ? 'gzip' : 'none' })),
  { file: '../zstd/shell.tar.zst', dir: 'shell', engine: 'podman', compression: 'zstd' },
];
const ENGINE_AS_CHECKPOINTCTL = { podman: 'Podman', 'cri-o': 'CRI-O', containerd: 'containerd' } as const;

type J = Record<string, any>;
const json = (c: Case, f: string): J => JSON.parse(readFileSync(join(REAL, c.dir, f), 'utf8')) as J;
const ctl = (c: Case): J => (json(c, 'checkpointctl-1.5.0/inspect-all.json') as unknown as J[])[0] as J;
const truth = (c: Case): J => json(c, 'ground-truth.json');

const inspected = new Map<string, Inspection>();
async function inspect(c: Case): Promise<Inspection> {
  let i = inspected.get(c.file);
  if (!i) {
    i = (await inspectCheckpoint(() => readFileChunks(join(REAL, c.file)))).inspection;
    inspected.set(c.file, i);
  }
  return i;
}

/** checkpointctl's process tree, flattened in its order. */
function ctlProcesses(node: J | undefined): J[] {
  return node ? [node, ...((node.children as J[] | undefined) ?? []).flatMap(ctlProcesses)] : [];
}

const seconds = (s: string) => Math.floor(Date.parse(s) / 1000);

for (const c of CASES) {
  t.test(`${c.file}: engine, container, image, runtime and addresses as checkpointctl and the ground truth have them`, async (t) => {
    const i = await inspect(c);
    const k = ctl(c),
      g = truth(c);
    t.equal(i.compression, c.compression, 'the compression, from the magic bytes');
    t.equal(i.container.engine, c.engine);
    t.equal(ENGINE_AS_CHECKPOINTCTL[i.container.engine as Case['engine']], k.engine, 'the engine checkpointctl names');
    t.equal(i.container.name, k.container_name);
    t.equal(i.container.name, g.container_name, 'the name the engine gave the container');
    t.equal(i.container.id, g.container_id);
    t.equal(i.container.image, k.image);
    t.equal(i.container.image, g.image);
    t.equal(i.container.ociRuntime, k.runtime, 'the OCI runtime');
    t.equal(i.container.ociRuntime, g.oci_runtime);
    // checkpointctl prints CRI-O's io.kubernetes.cri-o.Created annotation and the others' config.dump
    // createdTime to the second; we print config.dump's createdTime, which for CRI-O is some
    // milliseconds after the annotation: the same second.
    t.equal(seconds(i.container.createdAt as string), seconds(k.created as string), 'created, to the second');
    if (k.checkpointed) t.equal(seconds(i.container.checkpointedAt as string), seconds(k.checkpointed as string), 'checkpointed, to the second');
    else t.equal(i.container.checkpointedAt, undefined, "Podman's config.dump has no checkpointed time");
    // CRI-O: annotation io.kubernetes.cri-o.IP.0. Podman: network.status, `null` in these archives
    // (--network=none). containerd: the archive holds no address at all.
    t.equal(i.container.ip, k.ip as string | undefined, 'the IP checkpointctl shows, or none');
    t.equal(i.container.mac, k.mac as string | undefined);
    if (c.engine === 'cri-o') t.equal(i.container.ip, '10.88.0.4');
    if (c.engine === 'podman') t.equal(g.network_mode, 'none');
    if (c.engine !== 'podman') t.equal(i.container.criuVersion, '4.2', 'dump.log names CRIU 4.2');
  });

  t.test(`${c.file}: pod and namespace from the spec's annotations`, async (t) => {
    const i = await inspect(c);
    const g = truth(c);
    const labels = (g.crio?.labels ?? g.labels) as J | undefined;
    const tree = readFileSync(join(REAL, c.dir, 'checkpointctl-1.5.0/inspect-tree-all.txt'), 'utf8');
    if (c.engine === 'podman') {
      t.equal(i.container.pod, undefined, 'a Podman container outside a pod has none');
      t.equal(i.container.namespace, undefined);
      t.notMatch(tree, /Pod name:/);
    } else {
      t.equal(i.container.pod, labels?.['io.kubernetes.pod.name']);
      t.equal(i.container.namespace, labels?.['io.kubernetes.pod.namespace']);
      t.match(tree, new RegExp(`Pod name: ${i.container.pod}\\n`));
      t.match(tree, new RegExp(`Kubernetes namespace: ${i.container.namespace}\\n`));
    }
    const spec = readFileSync(join(REAL, c.dir, 'checkpointctl-1.5.0/inspect-tree-all.txt'), 'utf8');
    for (const [key, value] of Object.entries(i.container.annotations ?? {})) {
      if (!value.includes('\n') && !value.startsWith('{') && !value.startsWith('['))
        t.ok(spec.includes(`${key}: ${value}`), `annotation ${key} as checkpointctl lists it`);
    }
  });

  t.test(`${c.file}: checkpoint sizes and CRIU statistics are checkpointctl's numbers`, async (t) => {
    const i = await inspect(c);
    const k = ctl(c);
    // How each size is computed, from the archive's own listing (`tar tv`, beside the archive):
    // total = every regular file under checkpoint/ (all CRIU images, the tmpfs-dev-*.tar.gz.img
    // copies Podman adds included), memory pages = the checkpoint/pages-* among them, rootfs diff =
    // the rootfs-diff.tar member as stored (gzip for containerd).
    const listing = readFileSync(join(REAL, c.dir, 'archive-listing.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('-'));
    const entries = listing.map((l) => {
      const f = l.trim().split(/\s+/);
      return { size: Number(f[2]), name: (f[5] as string).replace(/^\.\//, '') };
    });
    const sum = (keep: (n: string) => boolean) => entries.filter((e) => keep(e.name)).reduce((n, e) => n + e.size, 0);
    const fromListing = {
      totalBytes: sum((n) => n.startsWith('checkpoint/')),
      memoryPagesBytes: sum((n) => n.startsWith('checkpoint/pages-')),
      rootfsDiffBytes: sum((n) => n === 'rootfs-diff.tar'),
    };
    t.same(i.checkpointSize, fromListing, 'summed from the tar headers');
    t.same(i.checkpointSize, {
      totalBytes: k.checkpoint_size.total_size,
      memoryPagesBytes: k.checkpoint_size.memory_pages_size,
      rootfsDiffBytes: k.checkpoint_size.root_fs_diff_size,
    });

    const s = k.statistics as J;
    t.same(
      [i.stats.freezingTimeUs, i.stats.frozenTimeUs, i.stats.memdumpTimeUs, i.stats.memwriteTimeUs, i.stats.pagesScanned, i.stats.pagesWritten],
      [s.freezing_time, s.frozen_time, s.memdump_time, s.memwrite_time, s.pages_scanned, s.pages_written],
      'freezing, frozen, memdump, memwrite (µs); pages scanned and written',
    );
    const crit = (json(c, 'crit/stats-dump.json').entries as J[])[0]?.dump as J;
    t.equal(i.stats.pagesWritten, crit.pages_written, 'as crit decodes stats-dump');
  });

  t.test(`${c.file}: mounts as checkpointctl's overview of mounts lists them`, async (t) => {
    const i = await inspect(c);
    t.same(
      i.mounts?.map((m) => ({ destination: m.destination, type: m.type, source: m.source })),
      ctl(c).mounts,
    );
  });

  t.test(`${c.file}: processes with task state, command line and environment`, async (t) => {
    const i = await inspect(c);
    const theirs = ctlProcesses(ctl(c).process_tree as J);
    t.same(
      i.processes.map((p) => p.pid).sort((a, b) => a - b),
      theirs.map((p) => p.pid).sort((a, b) => a - b),
    );
    for (const k of theirs) {
      const p = i.processes.find((x) => x.pid === k.pid) as InspectedProcess;
      t.equal(p.comm, k.command, `pid ${k.pid}: comm`);
      t.equal(p.state, String(k.task_state).toLowerCase(), `pid ${k.pid}: task state ${k.task_state}`);
      // checkpointctl joins the argv bytes with spaces, the trailing NUL too (1.4.0 printed nothing here)
      t.equal(`${p.cmdline.join(' ')} `, k.cmdline, `pid ${k.pid}: command line`);
      t.same(
        Object.fromEntries(p.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
        k.environment_variables,
        `pid ${k.pid}: environment`,
      );
    }
  });

  t.test(`${c.file}: file descriptors as checkpointctl lists them`, async (t) => {
    const i = await inspect(c);
    for (const k of ctl(c).file_descriptors as J[]) {
      const p = i.processes.find((x) => x.pid === k.pid) as InspectedProcess;
      const ours = [
        ...p.files.map((f) => ({ fd: f.fd, type: f.kind === 'file' ? 'REG' : f.kind.toUpperCase(), path: f.kind === 'pipe' ? `pipe[${f.pipeId}]` : f.path })),
        ...p.sockets.map((s) => ({ fd: s.fd, type: s.kind === 'inet' ? 'INETSK' : 'UNIXSK', path: undefined })),
      ]
        .sort((a, b) => a.fd - b.fd)
        .map((f) => ({ type: f.type, fd: `${f.type} ${f.fd}`, path: f.path }));
      const theirs = (k.open_files as J[]).filter((f) => f.type !== '');
      // checkpointctl names a socket by its files.img id (`INETSK.14`); the socket itself is compared below
      t.same(
        ours.map((f) => (f.type === 'INETSK' ? { ...f, path: undefined } : f)),
        theirs.map((f) => (f.type === 'INETSK' ? { ...f, path: undefined } : f)),
        `pid ${k.pid}`,
      );
      t.same(
        [p.cwd, p.root],
        (k.open_files as J[]).filter((f) => f.type === '').map((f) => f.path),
        `pid ${k.pid}: cwd and root`,
      );
    }
  });
}

t.test('sockets: what checkpointctl shows, except the IPv4-mapped address it garbles', async (t) => {
  for (const c of CASES.filter((x) => x.dir.endsWith('revshell'))) {
    const i = await inspect(c);
    const theirs = ctl(c).sockets as J[];
    t.equal(theirs.length, 2, `${c.file}: the listener side and the shell`);
    for (const k of theirs) {
      const p = i.processes.find((x) => x.pid === k.pid) as InspectedProcess;
      t.equal(p.sockets.length, (k.open_sockets as J[]).length, `${c.file} pid ${k.pid}: one socket per descriptor`);
      (k.open_sockets as J[]).forEach((o, n) => {
        const d = o.data as J,
          s = p.sockets[n]!;
        t.equal(s.protocol?.toUpperCase(), o.protocol);
        t.equal(s.state, d.state);
        // checkpointctl prints the dual-stack listener's ::ffff:127.0.0.1 (an IPv4-mapped IPv6
        // address, as `ss` and the ground truth show it) as "7f00:1::": wrong. We print the address.
        const [addr, port] = [(x: string) => x.replace(/^\[(.*)\]:\d+$/, '$1').replace(/:\d+$/, ''), (x: string) => Number(x.slice(x.lastIndexOf(':') + 1))];
        const want = (a: string) => (a === '7f00:1::' ? '::ffff:127.0.0.1' : a);
        t.same(
          [addr(s.local!), port(s.local!), addr(s.remote!), port(s.remote!)],
          [want(d.src), d.src_port, want(d.dst), d.dst_port],
          `${c.file} pid ${k.pid} fd ${s.fd}`,
        );
      });
    }
    const ss = (truth(c).sockets_ss_tanuwp as string[]).join('\n');
    const shell = i.processes.find((p) => p.pid === 10)!.sockets[0]!;
    t.match(ss, new RegExp(`${shell.local!.replace(/\./g, '\\.')} +${shell.remote!.replace(/\./g, '\\.')}`), "the shell's connection as ss showed it");
    t.ok(ss.includes('[::ffff:127.0.0.1]:4444'), "the listener's address as ss showed it");
  }
});

t.test('the filesystem changes the ground truth lists', async (t) => {
  for (const c of CASES) {
    const i = await inspect(c);
    const g = truth(c);
    for (const added of g.files_added as string[]) {
      const path = added.split(' ')[0]!.replace(/\/$/, '');
      t.ok(
        i.rootfsDiff.added.some((f) => f.path === path),
        `${c.file}: ${path} added`,
      );
    }
    for (const deleted of g.files_deleted as string[]) t.ok(i.rootfsDiff.deleted.includes(deleted.split(' ')[0]!), `${c.file}: ${deleted} deleted`);
    t.same(i.warnings, [], `${c.file}: read without a warning`);
  }
});
