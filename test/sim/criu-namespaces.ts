/**
 * The images CRIU 4.2 writes for a container's namespaces and cgroups, shaped like those of the
 * real CRI-O and containerd checkpoints (test/fixtures/real-checkpoints, cgroup v1): cgroup.img,
 * mountpoints-<mnt ns>.img, netns-<net ns>.img (the pod's network namespace is external to the
 * container, so CRIU keeps only its key), ipcns-var-<ipc ns>.img, utsns-<uts ns>.img, timens-0.img,
 * seccomp.img and a gzipped tar of each tmpfs mounted inside the container (tmpfs-dev-<minor>,
 * named after the mount's device minor).
 *
 * Namespace ids follow CRIU's counter as the real dumps show it: CRIU's own namespaces take 1–8
 * (inventory root_ids), the container's pid, net, ipc, uts and mnt namespaces 9–13; user, cgroup
 * and time are shared with the host (7, 8, 5).
 */
import { gzipSync } from 'node:zlib';
import { bindMounts, cgroupPath, layerId, type ContainerIdentity } from './container-paths.js';
import type { ProtoMessage } from './protobuf.js';
import { ustar } from './ustar.js';

export const NS = { pid: 9, net: 10, ipc: 11, uts: 12, mnt: 13, user: 7, cgroup: 8, time: 5 } as const;
export const ROOT_NS = { pid: 1, net: 2, ipc: 3, uts: 4, time: 5, mnt: 6, user: 7, cgroup: 8 } as const;

/** mntinfo flags (criu/include/mount.h MS_*) as the real mounts carry them. */
const MS = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, RELATIME: 0x200000, STRICTATIME: 0x1000000 } as const;
const FSTYPE = { UNSUPPORTED: 0, PROC: 1, SYSFS: 2, TMPFS: 5, DEVPTS: 6, CGROUP: 12, MQUEUE: 14, OVERLAYFS: 17 } as const;
/** cgroup v1 controllers as a node with the cgroupfs driver mounts them; '' is the unified (v2) hierarchy. */
const CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'name=systemd'] as const;
const DISK = { dev: (254 << 20) | 0, source: '/dev/vda', options: 'discard,errors=remount-ro' };

export interface Mount {
  mntId: number;
  tmpfsMinor?: number;
  entry: ProtoMessage;
}

/**
 * The container's mount table, in the order CRIU writes it (newest first). Mount ids start at
 * `base`; the root is the overlay whose parent is outside the container.
 */
export function containerMounts(c: ContainerIdentity, base = 640): Mount[] {
  const out: Mount[] = [];
  let id = base;
  const add = (
    parent: number,
    fstype: number,
    dev: number,
    flags: number,
    mountpoint: string,
    source: string,
    options: string,
    more: { root?: string; sb_flags?: number; ext_key?: string } = {},
  ): number => {
    const mntId = id++;
    // A tmpfs made inside the container is dumped as a tarball; an external (bind-mounted) one is not.
    const tmpfsMinor = fstype === FSTYPE.TMPFS && more.ext_key === undefined ? dev & 0xfffff : undefined;
    out.push({
      mntId,
      tmpfsMinor,
      entry: {
        fstype,
        mnt_id: mntId,
        root_dev: dev,
        parent_mnt_id: parent,
        flags,
        root: more.root ?? '/',
        mountpoint,
        source,
        options,
        shared_id: 0,
        master_id: 0,
        sb_flags: more.sb_flags ?? 0,
        ext_key: more.ext_key,
      },
    });
    return mntId;
  };
  const layer = layerId(c);
  const overlay =
    c.layout === 'crio'
      ? `lowerdir=/var/lib/containers/storage/overlay/l/${layer.slice(0, 26).toUpperCase()},upperdir=/var/lib/containers/storage/overlay/${layer}/diff,workdir=/var/lib/containers/storage/overlay/${layer}/work`
      : `lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/57/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/57/work`;
  const nsd = MS.NOSUID | MS.NODEV;
  const root = add(63, FSTYPE.OVERLAYFS, 211, MS.RELATIME, '/', 'overlay', overlay);
  add(root, FSTYPE.PROC, 212, MS.RELATIME | nsd | MS.NOEXEC, '/proc', 'proc', '');
  const dev = add(root, FSTYPE.TMPFS, 213, MS.STRICTATIME | MS.NOSUID, '/dev', 'tmpfs', 'size=65536k,mode=755');
  add(dev, FSTYPE.DEVPTS, 214, MS.RELATIME | MS.NOSUID | MS.NOEXEC, '/dev/pts', 'devpts', 'gid=5,mode=620,ptmxmode=666,newinstance');
  add(dev, FSTYPE.MQUEUE, 215, MS.RELATIME | nsd | MS.NOEXEC, '/dev/mqueue', 'mqueue', '');
  const sys = add(root, FSTYPE.SYSFS, 216, MS.RELATIME | nsd | MS.NOEXEC | MS.RDONLY, '/sys', 'sysfs', '', { sb_flags: MS.RDONLY });
  const cg = add(sys, FSTYPE.TMPFS, 217, MS.RELATIME | nsd | MS.NOEXEC, '/sys/fs/cgroup', 'tmpfs', 'mode=755');
  CONTROLLERS.forEach((name, i) => {
    const dir = name === 'name=systemd' ? 'systemd' : name;
    add(cg, FSTYPE.CGROUP, 218 + i, MS.RELATIME | nsd | MS.NOEXEC | MS.RDONLY, `/sys/fs/cgroup/${dir}`, 'cgroup', name, {
      root: cgroupPath(c),
      ext_key: `/sys/fs/cgroup/${dir}`,
    });
  });
  for (const b of bindMounts(c)) {
    const flags = MS.RELATIME | (b.readOnly ? MS.RDONLY : 0) | (b.destination === '/dev/shm' ? nsd | MS.NOEXEC : 0);
    const parent = b.destination.startsWith('/dev/') ? dev : root;
    if (b.fs === 'disk') add(parent, FSTYPE.UNSUPPORTED, DISK.dev, flags, b.destination, DISK.source, DISK.options, { root: b.source, ext_key: b.destination });
    else
      add(
        parent,
        FSTYPE.TMPFS,
        230 + out.length,
        flags,
        b.destination,
        b.destination === '/dev/shm' ? 'shm' : 'tmpfs',
        b.destination === '/dev/shm' ? 'size=65536k' : 'size=3995648k',
        { ext_key: b.destination },
      );
  }
  return out.reverse();
}

/** The /dev and /sys/fs/cgroup tmpfs contents CRIU tars up (what runc put there). */
export function tmpfsTarballs(mounts: readonly Mount[], now: number): { name: string; data: Buffer }[] {
  const out: { name: string; data: Buffer }[] = [];
  for (const m of mounts) {
    if (m.tmpfsMinor === undefined) continue;
    const mtime = now;
    const entries =
      m.entry.mountpoint === '/dev'
        ? [
            { name: './', type: 'directory' as const, mode: 0o755, mtime },
            ...(['stderr', 'stdout', 'stdin'] as const).map((n, i) => ({
              name: `./${n}`,
              type: 'symlink' as const,
              mode: 0o777,
              mtime,
              linkname: `/proc/self/fd/${2 - i}`,
            })),
            { name: './fd', type: 'symlink' as const, mode: 0o777, mtime, linkname: '/proc/self/fd' },
            { name: './ptmx', type: 'symlink' as const, mode: 0o777, mtime, linkname: 'pts/ptmx' },
            ...(
              [
                ['urandom', 1, 9],
                ['zero', 1, 5],
                ['tty', 5, 0],
                ['full', 1, 7],
                ['random', 1, 8],
                ['null', 1, 3],
              ] as const
            ).map(([n, maj, min]) => ({ name: `./${n}`, type: 'char' as const, mode: 0o666, mtime, dev: [maj, min] as [number, number] })),
            ...['shm', 'mqueue', 'pts'].map((n) => ({ name: `./${n}/`, type: 'directory' as const, mode: 0o755, mtime })),
          ]
        : [
            { name: './', type: 'directory' as const, mode: 0o555, mtime },
            ...CONTROLLERS.map((n) => ({ name: `./${n === 'name=systemd' ? 'systemd' : n}/`, type: 'directory' as const, mode: 0o755, mtime })),
          ];
    out.push({ name: `tmpfs-dev-${m.tmpfsMinor}.tar.gz.img`, data: gzipSync(ustar(entries)) });
  }
  return out;
}

/** cgroup.img: the tasks' cgroup set (id 2; CRIU's own is 1) and each controller's directory with the properties CRIU saves. */
export function cgroupEntry(c: ContainerIdentity): ProtoMessage {
  const path = cgroupPath(c);
  const perms = (mode: number) => ({ mode, uid: 0, gid: 0 });
  const prop = (name: string, value: string, mode = 0o100644) => ({ name, value, perms: perms(mode) });
  const common = [prop('cgroup.clone_children', '0'), prop('notify_on_release', '0'), prop('cgroup.procs', ''), prop('tasks', '')];
  const own: Record<string, ProtoMessage[]> = {
    cpu: [prop('cpu.shares', '2'), prop('cpu.cfs_period_us', '100000'), prop('cpu.cfs_quota_us', '-1')],
    cpuset: [prop('cpuset.cpus', '0-3'), prop('cpuset.mems', '0')],
    memory: [prop('memory.limit_in_bytes', '9223372036854771712'), prop('memory.swappiness', '60'), prop('memory.use_hierarchy', '1')],
    devices: [prop('devices.list', 'c 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:2 rwm\nc 136:* rwm', 0o100444)],
    freezer: [prop('freezer.state', 'FROZEN')],
    pids: [prop('pids.max', 'max')],
  };
  const controllers = [...CONTROLLERS, ''].map((name) => ({
    cnames: [name],
    dirs: [
      {
        dir_name: path.slice(1),
        properties:
          name === ''
            ? [prop('cgroup.subtree_control', ''), prop('cgroup.max.descendants', 'max'), prop('cgroup.type', 'domain')]
            : [...(own[name] ?? []), ...common],
        dir_perms: perms(0o40755),
      },
    ],
    is_threaded: name !== '',
  }));
  return { sets: [{ id: 2, ctls: ['', ...[...CONTROLLERS].sort()].map((name) => ({ name, path })) }], controllers };
}

export const netnsEntry = (): ProtoMessage => ({ ext_key: 'extRootNetNS' });

export const ipcVarEntry = (): ProtoMessage => ({
  sem_ctls: [32000, 1024000000, 500, 32000],
  msg_ctlmax: 8192,
  msg_ctlmnb: 16384,
  msg_ctlmni: 32000,
  auto_msgmni: 0,
  shm_ctlmax: 18446744073692774399n,
  shm_ctlall: 18446744073692774399n,
  shm_ctlmni: 4096,
  shm_rmid_forced: 0,
  mq_queues_max: 256,
  mq_msg_max: 10,
  mq_msgsize_max: 8192,
  mq_msg_default: 10,
  mq_msgsize_default: 8192,
});

export const utsnsEntry = (nodename: string): ProtoMessage => ({ nodename, domainname: '(none)' });

/** timens-0.img: the clocks' offsets CRIU records (monotonic and boot time since the node booted). */
export function timensEntry(uptimeMs: number): ProtoMessage {
  const ts = (ms: number, ns: number) => ({ tv_sec: Math.floor(ms / 1000), tv_nsec: (ms % 1000) * 1_000_000 + ns });
  return { monotonic: ts(uptimeMs, 408_859), boottime: ts(uptimeMs, 408_929) };
}

/** seccomp.img: no filters (the pod runs Unconfined, as the real ones did). */
export const seccompEntry = (): ProtoMessage => ({});
