/**
 * The non-CRIU files of a checkpoint archive, as the container runtimes write them, with the key
 * sets of the real ones in test/fixtures/real-checkpoints (test/sim-tests/archive-shape.test.ts
 * compares them).
 *
 * CRI-O (internal/lib/checkpoint.go): config.dump and spec.dump are checkpointctl's
 * metadata.WriteJSONFile → json.MarshalIndent(v, "", "  "); config.dump is checkpointctl's
 * ContainerConfig {id, name, rootfsImage, rootfsImageRef (the image ID), rootfsImageName, runtime,
 * createdTime, checkpointedTime, restoredTime, restored}; spec.dump the OCI spec, annotated with
 * CRI-O's io.kubernetes.cri-o.* keys; bind.mounts lists the spec's bind mounts but those CRI-O
 * recreates itself (/dev, /dev/shm, /proc, /run, /sys…) as {source, destination, file_type,
 * permissions}; rootfs-diff.tar is an uncompressed tar of the changed paths (go.podman.io/common
 * crutils.CRCreateRootFsDiffTar) and deleted.files a JSON list of removed paths; the container log
 * is copied in under the literal name `io.kubernetes.cri-o.LogPath`.
 * containerd (internal/cri/server/container_checkpoint_linux.go): config.dump is json.Marshal
 * (compact) of the same ContainerConfig (name = the CRI container name, rootfsImageRef =
 * "sha256:<image ID>"); spec.dump the OCI spec (io.kubernetes.cri.* annotations, no hostname);
 * status.dump the CRI ContainerStatus as JSON; `status` the CRI plugin's own status file;
 * rootfs-diff.tar the container's rw layer blob (MediaTypeImageLayerGzip — gzip, with OCI whiteouts
 * for deletions); container.log the CRI log.
 */
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { pack } from 'tar-stream';
import { bindMounts as containerBindMounts, cgroupPath, logPath, rootfsPath, type ContainerIdentity, type RuntimeLayout } from './container-paths.js';

export type { RuntimeLayout } from './container-paths.js';
export { logPath } from './container-paths.js';

export interface ContainerContext extends ContainerIdentity {
  image: string;
  /** e.g. ghcr.io/acme/app@sha256:… */
  imageRef: string;
  /** the image config digest (64 hex), what the runtime calls the image ID */
  imageId: string;
  podIP: string;
  hostPid: number;
  createdAt: number;
  startedAt: number;
  checkpointedAt: number;
  argv: string[];
  env: string[];
  logLines: string[];
  /** Files the container wrote besides the miner's, for rootfs-diff.tar. */
  writes?: { path: string; body: string }[];
}

const json = (v: unknown, layout: RuntimeLayout) => Buffer.from(layout === 'crio' ? JSON.stringify(v, null, 2) : JSON.stringify(v));
/** Go's time.Time JSON: RFC 3339 with nanoseconds, trailing zeros trimmed. */
const goTime = (ms: number) => new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');

export function crioName(c: ContainerContext): string {
  return `k8s_${c.container}_${c.pod}_${c.namespace}_${c.podUid}_${c.restartCount}`;
}

/** containerd's CRI container name (makeContainerName): container_pod_namespace_uid_attempt. */
const containerdName = (c: ContainerContext) => `${c.container}_${c.pod}_${c.namespace}_${c.podUid}_${c.restartCount}`;

export function configDump(c: ContainerContext): Buffer {
  return json(
    {
      id: c.containerId,
      name: c.layout === 'crio' ? crioName(c) : containerdName(c),
      rootfsImage: c.image,
      rootfsImageRef: c.layout === 'crio' ? c.imageId : `sha256:${c.imageId}`,
      rootfsImageName: c.image,
      runtime: c.layout === 'crio' ? 'runc' : 'io.containerd.runc.v2',
      createdTime: goTime(c.createdAt),
      checkpointedTime: goTime(c.checkpointedAt),
      restoredTime: '0001-01-01T00:00:00Z',
      restored: false,
    },
    c.layout,
  );
}

const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_KILL'];
const containerdCaps = [
  ...CAPS.slice(0, 4),
  'CAP_MKNOD',
  'CAP_NET_RAW',
  ...CAPS.slice(4, 6),
  'CAP_SETFCAP',
  ...CAPS.slice(6),
  'CAP_SYS_CHROOT',
  'CAP_AUDIT_WRITE',
];

function crioAnnotations(c: ContainerContext): Record<string, string> {
  const userdata = `/run/containers/storage/overlay-containers/${c.sandboxId}/userdata`;
  const labels = {
    'io.kubernetes.container.name': c.container,
    'io.kubernetes.pod.name': c.pod,
    'io.kubernetes.pod.namespace': c.namespace,
    'io.kubernetes.pod.uid': c.podUid,
  };
  const kubeletAnn = {
    'io.kubernetes.container.restartCount': String(c.restartCount),
    'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
  };
  const volumes = containerBindMounts(c)
    .filter((m) => m.source.startsWith('/var/lib/kubelet/'))
    .map((m) => ({ container_path: m.destination, host_path: m.source, readonly: m.readOnly, propagation: 0, selinux_relabel: false }));
  return {
    'io.container.manager': 'cri-o',
    'io.kubernetes.container.name': c.container,
    ...kubeletAnn,
    'io.kubernetes.cri-o.Annotations': JSON.stringify(kubeletAnn),
    'io.kubernetes.cri-o.ContainerID': c.containerId,
    'io.kubernetes.cri-o.ContainerType': 'container',
    'io.kubernetes.cri-o.Created': goTime(c.createdAt - 40),
    'io.kubernetes.cri-o.IP.0': c.podIP,
    'io.kubernetes.cri-o.Image': c.image,
    'io.kubernetes.cri-o.ImageName': c.image,
    'io.kubernetes.cri-o.ImageRef': c.imageId,
    'io.kubernetes.cri-o.Labels': JSON.stringify(labels),
    'io.kubernetes.cri-o.LogPath': logPath(c),
    'io.kubernetes.cri-o.Metadata': JSON.stringify(c.restartCount ? { name: c.container, attempt: c.restartCount } : { name: c.container }),
    'io.kubernetes.cri-o.MountPoint': rootfsPath(c),
    'io.kubernetes.cri-o.Name': crioName(c),
    'io.kubernetes.cri-o.PlatformRuntimePath': '',
    'io.kubernetes.cri-o.ResolvPath': `${userdata}/resolv.conf`,
    'io.kubernetes.cri-o.SandboxID': c.sandboxId,
    'io.kubernetes.cri-o.SandboxName': `k8s_${c.pod}_${c.namespace}_${c.podUid}_0`,
    'io.kubernetes.cri-o.SeccompProfilePath': '',
    'io.kubernetes.cri-o.Stdin': 'false',
    'io.kubernetes.cri-o.StdinOnce': 'false',
    'io.kubernetes.cri-o.TTY': 'false',
    'io.kubernetes.cri-o.Volumes': JSON.stringify(volumes),
    'io.kubernetes.pod.name': c.pod,
    'io.kubernetes.pod.namespace': c.namespace,
    'io.kubernetes.pod.uid': c.podUid,
    'kubernetes.io/config.source': 'api',
  };
}

export function specDump(c: ContainerContext): Buffer {
  const crio = c.layout === 'crio';
  const netns = `/var/run/netns/${c.sandboxId.slice(0, 8)}-${c.sandboxId.slice(8, 12)}-${c.sandboxId.slice(12, 16)}-${c.sandboxId.slice(16, 20)}-${c.sandboxId.slice(20, 32)}`;
  const sandboxPid = `/proc/${Math.max(2, c.hostPid - 40)}/ns`;
  const caps = crio ? CAPS : containerdCaps;
  const m = (destination: string, type: string, source: string, options: string[]) => ({ destination, type, source, options });
  const mounts = [
    m('/proc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev']),
    m('/dev', 'tmpfs', 'tmpfs', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']),
    m('/dev/pts', 'devpts', 'devpts', ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']),
    m('/dev/mqueue', 'mqueue', 'mqueue', ['nosuid', 'noexec', 'nodev']),
    m('/sys', 'sysfs', 'sysfs', ['nosuid', 'noexec', 'nodev', 'ro']),
    m('/sys/fs/cgroup', 'cgroup', 'cgroup', ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']),
    ...containerBindMounts(c).map((b) =>
      m(b.destination, 'bind', b.source, crio ? ['rw', 'bind', ...(b.readOnly ? ['ro'] : [])] : ['rbind', 'rprivate', b.readOnly ? 'ro' : 'rw']),
    ),
  ];
  const spec = {
    ociVersion: crio ? '1.2.0' : '1.2.1',
    process: {
      user: { uid: 1000, gid: 1000, additionalGids: [1000] },
      args: c.argv,
      env: c.env,
      cwd: '/app',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      ...(crio
        ? {
            rlimits: [
              { type: 'RLIMIT_NOFILE', hard: 1_048_576, soft: 1_048_576 },
              { type: 'RLIMIT_NPROC', hard: 4096, soft: 4096 },
            ],
          }
        : { oomScoreAdj: 1000 }),
    },
    root: { path: rootfsPath(c) },
    ...(crio && { hostname: c.pod }),
    mounts,
    annotations: crio
      ? crioAnnotations(c)
      : {
          'io.kubernetes.cri.container-name': c.container,
          'io.kubernetes.cri.container-type': 'container',
          'io.kubernetes.cri.image-name': c.image,
          'io.kubernetes.cri.sandbox-id': c.sandboxId,
          'io.kubernetes.cri.sandbox-name': c.pod,
          'io.kubernetes.cri.sandbox-namespace': c.namespace,
          'io.kubernetes.cri.sandbox-uid': c.podUid,
        },
    linux: {
      resources: crio
        ? { devices: [{ allow: false, access: 'rwm' }], pids: { limit: -1 } }
        : { devices: [{ allow: false, access: 'rwm' }], memory: {}, cpu: { shares: 2 } },
      cgroupsPath: cgroupPath(c),
      namespaces: crio
        ? [
            { type: 'pid' },
            { type: 'network', path: netns },
            { type: 'ipc', path: netns.replace('netns', 'ipcns') },
            { type: 'uts', path: netns.replace('netns', 'utsns') },
            { type: 'mount' },
          ]
        : [
            { type: 'pid' },
            { type: 'ipc', path: `${sandboxPid}/ipc` },
            { type: 'uts', path: `${sandboxPid}/uts` },
            { type: 'mount' },
            { type: 'network', path: `${sandboxPid}/net` },
          ],
    },
  };
  return json(spec, c.layout);
}

/** CRI-O's bind.mounts: the spec's bind mounts but those it sets up itself (containerMounts in internal/lib/checkpoint.go). */
export function bindMounts(c: ContainerContext): Buffer {
  const own = new Set(['/dev', '/dev/shm', '/proc', '/run', '/run/.containerenv', '/run/secrets', '/sys']);
  return json(
    containerBindMounts(c)
      .filter((b) => !own.has(b.destination))
      .map((b) => ({
        source: b.source,
        destination: b.destination,
        file_type: b.fileType,
        permissions: b.fileType === 'directory' ? 0o755 : 0o644,
      })),
    'crio',
  );
}

export const DELETED_FILES = ['/var/log/app/access.log'];

/** CRI's containerd ContainerStatus as Go's encoding/json writes the generated struct (snake_case, omitempty). */
export function statusDump(c: ContainerContext): Buffer {
  const ns = (ms: number) => ms * 1_000_000;
  return json(
    {
      id: c.containerId,
      metadata: { name: c.container, attempt: c.restartCount || undefined },
      state: 1,
      created_at: ns(c.createdAt),
      started_at: ns(c.startedAt),
      image: { image: c.image },
      image_ref: `sha256:${c.imageId}`,
      labels: {
        'io.kubernetes.container.name': c.container,
        'io.kubernetes.pod.name': c.pod,
        'io.kubernetes.pod.namespace': c.namespace,
        'io.kubernetes.pod.uid': c.podUid,
      },
      annotations: {
        'io.kubernetes.container.restartCount': String(c.restartCount),
        'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
        'io.kubernetes.container.terminationMessagePolicy': 'File',
        'io.kubernetes.pod.terminationGracePeriod': '30',
      },
      mounts: containerBindMounts(c)
        .filter((b) => b.source.startsWith('/var/lib/kubelet/'))
        .map((b) => ({ container_path: b.destination, host_path: b.source, readonly: b.readOnly || undefined })),
      log_path: logPath(c),
      resources: { linux: { cpu_shares: 2, oom_score_adj: 1000 } },
      user: { linux: { uid: 1000, gid: 1000, supplemental_groups: [1000] } },
    },
    'containerd',
  );
}

/** The containerd CRI plugin's own `status` file (versioned containerstore.Status). */
export function containerdStatus(c: ContainerContext): Buffer {
  return json(
    {
      Version: 'v1',
      Pid: c.hostPid,
      CreatedAt: c.createdAt * 1_000_000,
      StartedAt: c.startedAt * 1_000_000,
      FinishedAt: 0,
      ExitCode: 0,
      Reason: '',
      Message: '',
      Resources: { linux: { cpu_shares: 2, oom_score_adj: 1000 } },
      Restore: false,
    },
    'containerd',
  );
}

/** The CRI log format: `<RFC3339Nano> stdout F <line>`. */
export function criLog(c: ContainerContext): Buffer {
  return Buffer.from(c.logLines.map((l, i) => `${new Date(c.startedAt + i * 1000).toISOString().replace('Z', '000000Z')} stdout F ${l}\n`).join(''));
}

async function tarToBuffer(entries: { name: string; mode: number; mtime: Date; body?: Buffer }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on('data', (b: unknown) => chunks.push(b as Buffer));
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const e of entries) {
    if (e.body === undefined) p.entry({ name: e.name, type: 'directory', mode: e.mode, mtime: e.mtime, uid: 1000, gid: 1000 });
    else p.entry({ name: e.name, type: 'file', mode: e.mode, mtime: e.mtime, uid: 1000, gid: 1000 }, e.body);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Bytes that start like an x86-64 ELF executable, then deterministic noise. */
export function fakeElf(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  Buffer.from('7f454c4602010100000000000000000003003e0001000000', 'hex').copy(out, 0);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 64; off < size; off += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, off, 0, Math.min(32, size - off));
  }
  Buffer.from('XMRig 6.21.0\0donate.v2.xmrig.com\0stratum+tcp://\0').copy(out, 4096);
  return out;
}

export const DROPPED_EXECUTABLE = 'tmp/.x/kworkerd';

/** rootfs-diff.tar: the dropped miner, its config and the dropper script (containerd: a gzip layer with a whiteout). */
export async function rootfsDiff(c: ContainerContext, minerConfig: string): Promise<Buffer> {
  const mtime = new Date(c.startedAt + 3_600_000);
  const entries = [
    { name: 'tmp/', mode: 0o1777, mtime },
    { name: 'tmp/.x/', mode: 0o755, mtime },
    { name: 'tmp/.x/config.json', mode: 0o644, mtime, body: Buffer.from(minerConfig) },
    { name: DROPPED_EXECUTABLE, mode: 0o755, mtime, body: fakeElf(49_152, c.containerId) },
    {
      name: 'tmp/.x/x.sh',
      mode: 0o755,
      mtime,
      body: Buffer.from('#!/bin/sh\ncd /tmp/.x && chmod +x kworkerd && nohup ./kworkerd -c config.json >/dev/null 2>&1 &\n'),
    },
    ...(c.writes ?? []).map((w) => ({ name: w.path.replace(/^\/+/, ''), mode: 0o644, mtime, body: Buffer.from(w.body) })),
  ];
  if (c.layout === 'crio') return tarToBuffer(entries);
  return gzipSync(
    await tarToBuffer([
      ...entries,
      { name: 'var/log/app/', mode: 0o755, mtime },
      { name: 'var/log/app/.wh.access.log', mode: 0o600, mtime, body: Buffer.alloc(0) },
    ]),
  );
}
