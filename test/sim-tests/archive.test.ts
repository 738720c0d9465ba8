import t from 'tap';
import { gunzipSync } from 'node:zlib';
import { closeSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startSimCluster, MINER_POOL, MINER_WALLET, REVERSE_SHELL, type SimCluster } from '../sim/sim-cluster.js';
import { MINER_CONFIG } from '../sim/criu-dump.js';
import { MAGIC, FD_TYPE } from '../sim/criu-images.js';
import { criuImage, decode, https, listTarUntilEnd, ipv4FromWord, num, nums, readTar, str, sub, subs, type Msg, type TarEntry } from './helpers.js';

type Obj = Record<string, any>;

let sim: SimCluster;
let pod: Obj;
t.before(async () => {
  sim = await startSimCluster();
  pod = sim.addPod({
    namespace: 'shop',
    name: 'web',
    node: 'node-a',
    containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.4.2' }],
    env: [
      { container: 'app', name: 'APP_ENV', value: 'production' },
      { container: 'app', name: 'DB_PASSWORD', secretKeyRef: { name: 'db', key: 'password' } },
    ],
  }) as Obj;
  sim.setLogs('shop', 'web', 'app', ['listening on :8080', 'GET /healthz 200']);
});
t.teardown(() => sim.close());

async function checkpoint(layout: 'crio' | 'containerd', pagesBytes = 256 * 1024): Promise<{ path: string; entries: TarEntry[] }> {
  sim.archive.layout = layout;
  sim.archive.pagesBytes = pagesBytes;
  // A new archive in the same second would overwrite the last one in place: start from an empty directory.
  for (const f of readdirSync(sim.checkpointDir('node-a'))) rmSync(join(sim.checkpointDir('node-a'), f));
  const r = await https(`https://127.0.0.1:${sim.kubeletPort('node-a')}/checkpoint/shop/web/app`, { method: 'POST', ca: sim.caCert, token: sim.token });
  if (r.status !== 200) throw new Error(`checkpoint: ${r.status} ${r.text}`);
  const path = r.json<{ items: string[] }>().items[0] ?? '';
  return { path, entries: await readTar(path) };
}

const body = (entries: TarEntry[], name: string): Buffer => {
  const e = entries.find((x) => x.header.name === name);
  if (!e?.data) throw new Error(`no ${name} in the archive`);
  return e.data;
};
const records = (entries: TarEntry[], name: string): Msg[] => criuImage(body(entries, `checkpoint/${name}`)).records.map(decode);

/** Bytes [start, end) of a process' memory, found through its pagemap into pages-<id>.img. */
function readMemory(path: string, entries: TarEntry[], pid: number, start: number, end: number): Buffer {
  const [head, ...runs] = records(entries, `pagemap-${pid}.img`);
  const pagesName = `checkpoint/pages-${num(head as Msg, 1)}.img`;
  let offset = 0;
  for (const r of runs) {
    const vaddr = num(r, 1),
      n = num(r, 5); // CRIU 4.2: nr_pages in field 5, field 2 (compat_nr_pages) is 0
    if (start >= vaddr && end <= vaddr + n * 4096) {
      const entry = entries.find((e) => e.header.name === pagesName);
      if (!entry) throw new Error(`no ${pagesName}`);
      const fileOffset = fileOffsetOf(path, pagesName) + offset + (start - vaddr);
      const out = Buffer.alloc(end - start);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, out, 0, out.length, fileOffset);
      } finally {
        closeSync(fd);
      }
      return out;
    }
    if ((num(r, 4) & 4) !== 0) offset += n * 4096;
  }
  throw new Error(`0x${start.toString(16)} not dumped for pid ${pid}`);
}

function fileOffsetOf(path: string, name: string): number {
  const e = listTarUntilEnd(path).find((x) => x.name === name);
  if (!e) throw new Error(`no ${name}`);
  return e.offset;
}

t.test('containerd layout: entries in lexical order, as archive.Diff writes them', async (t) => {
  const { entries } = await checkpoint('containerd');
  const names = entries.map((e) => e.header.name);
  t.same(
    names.filter((n) => !n.startsWith('checkpoint/')),
    ['config.dump', 'container.log', 'dump.log', 'rootfs-diff.tar', 'spec.dump', 'stats-dump', 'status', 'status.dump'],
  );
  t.same(names, [...names].sort(), 'lexical order');
  t.equal(entries[0]?.header.type, 'directory');
  const cfg = JSON.parse(body(entries, 'config.dump').toString()) as Obj;
  const id = String(pod.status.containerStatuses[0].containerID).replace('containerd://', '');
  t.equal(cfg.id, id, 'config.dump id = the containerID the API serves');
  t.equal(cfg.rootfsImageName, 'ghcr.io/acme/app:1.4.2');
  t.notOk(body(entries, 'config.dump').includes('\n'), 'containerd: compact JSON');
  t.equal((JSON.parse(body(entries, 'status.dump').toString()) as Obj).id, id);
  t.equal((JSON.parse(body(entries, 'spec.dump').toString()) as Obj).annotations['io.kubernetes.cri.sandbox-name'], 'web');
  t.match(body(entries, 'container.log').toString(), /^\d{4}-\d\d-\d\dT[\d:.]+Z stdout F listening on :8080\n.* stdout F GET \/healthz 200\n$/);
  const layer = await readTar(gunzipSync(body(entries, 'rootfs-diff.tar')));
  t.ok(
    layer.some((e) => e.header.name === 'var/log/app/.wh.access.log'),
    'containerd rw layer: gzip, deletions as OCI whiteouts',
  );
  t.ok(layer.some((e) => e.header.name === 'tmp/.x/kworkerd'));
});

t.test('CRI-O layout: its include order, indented JSON, bind.mounts, deleted.files, the log under its annotation name', async (t) => {
  const { entries } = await checkpoint('crio');
  const names = entries.map((e) => e.header.name);
  t.same(
    names.filter((n) => !n.startsWith('checkpoint/')),
    ['stats-dump', 'dump.log', 'config.dump', 'spec.dump', 'bind.mounts', 'rootfs-diff.tar', 'deleted.files', 'io.kubernetes.cri-o.LogPath'],
  );
  t.equal(names[2], 'checkpoint/');
  const cfg = body(entries, 'config.dump').toString();
  t.match(cfg, /^\{\n {2}"id": "[0-9a-f]{64}",\n {2}"name": "k8s_app_web_shop_[0-9a-f-]{36}_0",/);
  t.equal((JSON.parse(body(entries, 'spec.dump').toString()) as Obj).annotations['io.kubernetes.pod.name'], 'web');
  t.same(JSON.parse(body(entries, 'deleted.files').toString()), ['/var/log/app/access.log']);
  t.ok((JSON.parse(body(entries, 'bind.mounts').toString()) as Obj[]).some((m) => m.destination === '/etc/resolv.conf' && m.file_type === 'file'));
  t.match(body(entries, 'io.kubernetes.cri-o.LogPath').toString(), /stdout F listening on :8080\n/);
  t.match(body(entries, 'dump.log').toString(), /Dumping finished successfully\n$/);
  const rootfs = await readTar(body(entries, 'rootfs-diff.tar'));
  const miner = rootfs.find((e) => e.header.name === 'tmp/.x/kworkerd');
  t.equal(miner?.header.mode, 0o755, 'the dropped executable');
  t.same(miner?.data?.subarray(0, 4), Buffer.from([0x7f, 0x45, 0x4c, 0x46]), 'ELF magic');
  t.equal(rootfs.find((e) => e.header.name === 'tmp/.x/config.json')?.data?.toString(), MINER_CONFIG);
});

t.test('CRIU images: magics, records that parse to the end; the tmpfs tarballs are gzipped tars', async (t) => {
  const { entries } = await checkpoint('containerd');
  const typeMagic: Record<string, number> = {
    core: MAGIC.CORE,
    mm: MAGIC.MM,
    pagemap: MAGIC.PAGEMAP,
    fdinfo: MAGIC.FDINFO,
    ids: MAGIC.IDS,
    fs: MAGIC.FS,
    files: MAGIC.FILES,
    pstree: MAGIC.PSTREE,
    cgroup: MAGIC.CGROUP,
    mountpoints: MAGIC.MNTS,
    netns: MAGIC.NETNS,
    'ipcns-var': MAGIC.IPC_VAR,
    utsns: MAGIC.UTSNS,
    timens: MAGIC.TIMENS,
    seccomp: MAGIC.SECCOMP,
    'tcp-stream': MAGIC.TCP_STREAM,
  };
  const tarballs = entries.filter((x) => /^checkpoint\/tmpfs-dev-\d+\.tar\.gz\.img$/.test(x.header.name));
  t.equal(tarballs.length, 2, '/dev and /sys/fs/cgroup');
  for (const e of tarballs)
    t.ok(
      (await readTar(gunzipSync(e.data ?? Buffer.alloc(0)))).some((x) => x.header.name === './'),
      `${e.header.name}: a tar of the mount's root`,
    );
  for (const e of entries.filter((x) => /^checkpoint\/.+\.img$/.test(x.header.name) && !x.header.name.endsWith('.tar.gz.img'))) {
    const base = e.header.name.slice('checkpoint/'.length);
    if (base.startsWith('pages-')) continue;
    const img = criuImage(e.data ?? Buffer.alloc(0));
    if (base === 'inventory.img') {
      t.equal(img.magic, MAGIC.INVENTORY, 'inventory.img: the inventory magic only');
      t.equal(num(decode(img.records[0] ?? Buffer.alloc(0)), 1), 2, 'img_version 2');
      continue;
    }
    const kind = base.replace(/(-[0-9a-f]+)?\.img$/, '');
    t.equal(img.magic, MAGIC.IMG_COMMON, `${base}: IMG_COMMON`);
    t.equal(img.typeMagic, typeMagic[kind], `${base}: ${kind} magic`);
    // tcp-stream: the queues follow the record (inq_len + outq_len bytes)
    const extra = kind === 'tcp-stream' ? num(decode(img.records[0] ?? Buffer.alloc(0)), 1) + num(decode(img.records[0] ?? Buffer.alloc(0)), 3) : 0;
    if (kind !== 'tcp-stream')
      t.equal(
        img.records.reduce((n, r) => n + 4 + r.length, 8),
        e.size,
        `${base}: records fill the file`,
      );
    else t.equal(8 + 4 + (img.records[0]?.length ?? 0) + extra, e.size, `${base}: one record, then the queues`);
  }
  const stats = criuImage(body(entries, 'stats-dump'));
  t.same([stats.magic, stats.typeMagic], [MAGIC.IMG_SERVICE, MAGIC.STATS], 'stats-dump: service + stats magics');
  const dump = sub(decode(stats.records[0] ?? Buffer.alloc(0)), 1) as Msg;
  t.ok(num(dump, 2) > num(dump, 1), 'frozen_time > freezing_time (µs)');
  const pages = entries.filter((e) => /pages-\d+\.img$/.test(e.header.name)).reduce((n, e) => n + e.size, 0);
  t.equal(num(dump, 7) * 4096, pages, 'pages_written matches the pages files');
  t.equal(entries.find((e) => e.header.name === 'checkpoint/pages-1.img')?.size, 256 * 1024, 'pagesBytes sizes pages-1.img');
});

t.test('the process tree, tasks, credentials', async (t) => {
  const { entries } = await checkpoint('containerd');
  const tree = records(entries, 'pstree.img').map((p) => [num(p, 1), num(p, 2), nums(p, 5)]);
  t.same(tree, [
    [1, 0, [1]],
    [7, 1, [7, 8]],
    [9, 1, [9]],
  ]);
  const comm = (tid: number) => {
    const core = records(entries, `core-${tid}.img`)[0] as Msg;
    t.equal(num(core, 1), 1, `core-${tid}: X86_64`);
    const tc = sub(core, 3);
    return tc ? [str(tc, 6), num(tc, 1)] : [str(sub(core, 5) as Msg, 13), undefined];
  };
  t.same(
    [comm(1), comm(7), comm(8), comm(9)],
    [
      ['sh', 1],
      ['kworkerd', 1],
      ['kworkerd', undefined],
      ['bash', 1],
    ],
    'comm and task_state Alive; thread 8 has no task core',
  );
  const creds = sub(sub(records(entries, 'core-7.img')[0] as Msg, 5) as Msg, 10) as Msg;
  t.equal(num(creds, 1), 1000, 'uid');
});

t.test("files and sockets: the miner's pool connection and bash's reverse shell", async (t) => {
  const { entries } = await checkpoint('containerd');
  const files = new Map(records(entries, 'files.img').map((f) => [num(f, 2), f]));
  const isk = (id: number) => sub(files.get(id) as Msg, 4) as Msg;
  const filesId = (pid: number) => num(records(entries, `ids-${pid}.img`)[0] as Msg, 2);
  const fdinfo = (pid: number) => records(entries, `fdinfo-${filesId(pid)}.img`).map((f) => ({ id: num(f, 1), type: num(f, 3), fd: num(f, 4) }));

  const bash = fdinfo(9);
  t.same(
    bash.map((f) => f.fd),
    [0, 1, 2],
  );
  t.ok(
    bash.every((f) => f.type === FD_TYPE.INETSK && f.id === bash[0]?.id),
    'stdin, stdout, stderr: one TCP socket',
  );
  const shell = isk(bash[0]?.id ?? -1);
  t.same(
    [ipv4FromWord(num(shell, 12)), num(shell, 8), num(shell, 6), num(shell, 3), num(shell, 5)],
    [REVERSE_SHELL.ip, REVERSE_SHELL.port, 1, 2, 6],
    'AF_INET TCP ESTABLISHED to the listener',
  );

  const miner = fdinfo(7);
  const pool = isk(miner.find((f) => f.fd === 3)?.id ?? -1);
  t.same([ipv4FromWord(num(pool, 12)), num(pool, 8), num(pool, 6)], [MINER_POOL.ip, MINER_POOL.port, 1]);
  t.equal(ipv4FromWord(num(pool, 11)), String(pod.status.podIP), 'source: the pod IP');
  const [a, b] = miner.filter((f) => f.type === FD_TYPE.UNIXSK).map((f) => sub(files.get(f.id) as Msg, 16) as Msg);
  t.ok(a && b && num(a, 8) === num(b, 2) && num(b, 8) === num(a, 2), "a unix socketpair: each the other's peer");

  const reg = (id: number) => sub(files.get(id) as Msg, 3) as Msg;
  const fs = (pid: number) => records(entries, `fs-${pid}.img`)[0] as Msg;
  t.same([str(reg(num(fs(1), 1)), 6), str(reg(num(fs(1), 2)), 6), str(reg(num(fs(7), 1)), 6)], ['/app', '/', '/tmp/.x'], 'cwd and root are directory entries');
  t.equal(num(reg(num(fs(7), 1)), 10) & 0o170000, 0o040000);
  const exe = reg(num(records(entries, 'mm-7.img')[0] as Msg, 12));
  t.same([str(exe, 6), num(exe, 10)], ['/tmp/.x/kworkerd', 0o100755], 'the miner runs the dropped file');
});

t.test('memory: argv and env are where mm + pagemap say they are', async (t) => {
  const { path, entries } = await checkpoint('containerd', 3 * 1024 * 1024 + 4096);
  for (const pid of [1, 7, 9]) {
    const mm = records(entries, `mm-${pid}.img`)[0] as Msg;
    const argv = readMemory(path, entries, pid, num(mm, 8), num(mm, 9)).toString().split('\0').slice(0, -1);
    const env = readMemory(path, entries, pid, num(mm, 10), num(mm, 11)).toString().split('\0').slice(0, -1);
    const comm = str(sub(records(entries, `core-${pid}.img`)[0] as Msg, 3) as Msg, 6);
    if (pid === 7) t.same(argv.slice(0, 5), ['/tmp/.x/kworkerd', '-o', `stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}`, '-u', MINER_WALLET]);
    if (pid === 9) t.same(argv, ['bash', '-i']);
    if (pid === 1) {
      t.same(argv, ['/bin/sh', '/app/entrypoint.sh']);
      t.ok(env.includes('APP_ENV=production') && env.some((e) => /^DB_PASSWORD=sim-password-[0-9a-f]{20}$/.test(e)), 'the secret env value is in memory');
    }
    t.ok(env.includes('HOSTNAME=web'), `pid ${pid} (${comm}): env at mm_env_start`);
  }
  const [, ...runs] = records(entries, 'pagemap-1.img');
  t.ok(runs.length > 2, "pid 1's heap is split into several pagemap runs (holes between them)");
  t.equal(runs.reduce((n, r) => n + num(r, 5), 0) * 4096, 3 * 1024 * 1024 + 4096, 'present pages = pages-1.img');
  const heap = records(entries, 'mm-7.img')[0] as Msg;
  const heapStart = num(subs(heap, 14).find((v) => (num(v, 7) & 32) !== 0) as Msg, 1); // VMA_AREA_HEAP
  t.match(
    readMemory(path, entries, 7, heapStart, heapStart + 4096).toString('latin1'),
    /"method":"login","params":\{"login":"4AmberSimWa11et/,
    "the miner's login request is in its heap",
  );
});
