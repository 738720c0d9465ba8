/**
 * The non-CRIU files of a checkpoint archive, as the container runtimes write them.
 *
 * CRI-O (internal/lib/checkpoint.go): config.dump and spec.dump are checkpointctl's
 * metadata.WriteJSONFile → json.MarshalIndent(v, "", "  "); bind.mounts lists external bind
 * mounts [{source, destination, file_type, permissions}]; rootfs-diff.tar is an uncompressed tar of
 * the changed paths (go.podman.io/common crutils.CRCreateRootFsDiffTar) and deleted.files a JSON
 * list of removed paths; the container log is copied in under the literal name
 * `io.kubernetes.cri-o.LogPath`.
 * containerd (internal/cri/server/container_checkpoint_linux.go): config.dump is json.Marshal
 * (compact) of the same ContainerConfig; spec.dump is the OCI spec blob; status.dump is the CRI
 * ContainerStatus as JSON; `status` is the CRI plugin's own status file; rootfs-diff.tar is the
 * container's rw layer blob (MediaTypeImageLayerGzip — gzip, with OCI whiteouts for deletions);
 * container.log is the CRI log.
 */
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { pack } from 'tar-stream';

export type RuntimeLayout = 'crio' | 'containerd';

export interface ContainerContext {
  layout: RuntimeLayout;
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** 64 hex */
  containerId: string;
  sandboxId: string;
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
  restartCount: number;
  argv: string[];
  env: string[];
  logLines: string[];
}

const json = (v: unknown, layout: RuntimeLayout) => Buffer.from(layout === 'crio' ? JSON.stringify(v, null, 2) : JSON.stringify(v));
const rfc3339 = (ms: number) => new Date(ms).toISOString();
/** Go's time.Time JSON: RFC 3339 with nanoseconds, trailing zeros trimmed. */
const goTime = (ms: number) => new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');

export function crioName(c: ContainerContext): string {
  return `k8s_${c.container}_${c.pod}_${c.namespace}_${c.podUid}_${c.restartCount}`;
}

export function logPath(c: ContainerContext): string {
  return `/var/log/pods/${c.namespace}_${c.pod}_${c.podUid}/${c.container}/${c.restartCount}.log`;
}

export function configDump(c: ContainerContext): Buffer {
  return json({
    id: c.containerId,
    name: c.layout === 'crio' ? crioName(c) : c.containerId,
    rootfsImage: c.image,
    rootfsImageRef: c.layout === 'crio' ? c.imageId : c.imageRef,
    rootfsImageName: c.image,
    runtime: c.layout === 'crio' ? 'crun' : 'io.containerd.runc.v2',
    createdTime: goTime(c.createdAt),
    checkpointedTime: goTime(c.checkpointedAt),
    restoredTime: '0001-01-01T00:00:00Z',
    restored: false,
  }, c.layout);
}

export function specDump(c: ContainerContext): Buffer {
  const sandbox = `/var/run/netns/${c.sandboxId.slice(0, 8)}-${c.sandboxId.slice(8, 12)}-${c.sandboxId.slice(12, 16)}-${c.sandboxId.slice(16, 20)}-${c.sandboxId.slice(20, 32)}`;
  const annotations: Record<string, string> = c.layout === 'crio' ? {
    'io.container.manager': 'cri-o',
    'io.kubernetes.container.name': c.container,
    'io.kubernetes.container.restartCount': String(c.restartCount),
    'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
    'io.kubernetes.cri-o.ContainerID': c.containerId,
    'io.kubernetes.cri-o.ContainerType': 'container',
    'io.kubernetes.cri-o.Created': rfc3339(c.createdAt),
    'io.kubernetes.cri-o.Image': c.imageId,
    'io.kubernetes.cri-o.ImageName': c.image,
    'io.kubernetes.cri-o.ImageRef': c.imageId,
    'io.kubernetes.cri-o.LogPath': logPath(c),
    'io.kubernetes.cri-o.Name': crioName(c),
    'io.kubernetes.cri-o.SandboxID': c.sandboxId,
    'io.kubernetes.cri-o.SandboxName': `k8s_${c.pod}_${c.namespace}_${c.podUid}_0`,
    'io.kubernetes.pod.name': c.pod,
    'io.kubernetes.pod.namespace': c.namespace,
    'io.kubernetes.pod.uid': c.podUid,
    'io.kubernetes.pod.terminationGracePeriod': '30',
  } : {
    'io.kubernetes.cri.container-name': c.container,
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.image-name': c.image,
    'io.kubernetes.cri.sandbox-id': c.sandboxId,
    'io.kubernetes.cri.sandbox-name': c.pod,
    'io.kubernetes.cri.sandbox-namespace': c.namespace,
    'io.kubernetes.cri.sandbox-uid': c.podUid,
  };
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_KILL'];
  return json({
    ociVersion: '1.0.2-dev',
    process: {
      user: { uid: 1000, gid: 1000, additionalGids: [1000] }, args: c.argv, env: c.env, cwd: '/app',
      capabilities: { bounding: caps, effective: caps, permitted: caps }, oomScoreAdj: 1000,
    },
    root: { path: c.layout === 'crio' ? `/var/lib/containers/storage/overlay/${c.containerId}/merged` : 'rootfs' },
    hostname: c.pod,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/etc/hosts', type: 'bind', source: `/var/lib/kubelet/pods/${c.podUid}/etc-hosts`, options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/dev/termination-log', type: 'bind', source: `/var/lib/kubelet/pods/${c.podUid}/containers/${c.container}/0a1b2c3d`, options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/var/run/secrets/kubernetes.io/serviceaccount', type: 'bind', source: `/var/lib/kubelet/pods/${c.podUid}/volumes/kubernetes.io~projected/kube-api-access-7xk2p`, options: ['rbind', 'rprivate', 'ro'] },
    ],
    annotations,
    linux: {
      cgroupsPath: `kubepods-besteffort-pod${c.podUid.replace(/-/g, '_')}.slice:crio:${c.containerId}`,
      namespaces: [{ type: 'pid' }, { type: 'network', path: sandbox }, { type: 'ipc', path: sandbox.replace('netns', 'ipcns') }, { type: 'uts', path: sandbox.replace('netns', 'utsns') }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  }, c.layout);
}

export function bindMounts(c: ContainerContext): Buffer {
  const f = (source: string, destination: string, file_type: string, permissions: number) => ({ source, destination, file_type, permissions });
  return json([
    f(`/var/lib/kubelet/pods/${c.podUid}/etc-hosts`, '/etc/hosts', 'file', 0o644),
    f(`/var/lib/kubelet/pods/${c.podUid}/containers/${c.container}/0a1b2c3d`, '/dev/termination-log', 'file', 0o666),
    f(`/run/containers/storage/overlay-containers/${c.sandboxId}/userdata/hostname`, '/etc/hostname', 'file', 0o644),
    f(`/run/containers/storage/overlay-containers/${c.sandboxId}/userdata/resolv.conf`, '/etc/resolv.conf', 'file', 0o644),
    f(`/var/lib/kubelet/pods/${c.podUid}/volumes/kubernetes.io~projected/kube-api-access-7xk2p`, '/var/run/secrets/kubernetes.io/serviceaccount', 'directory', 0o755),
  ], 'crio');
}

export const DELETED_FILES = ['/var/log/app/access.log'];

/** CRI's containerd ContainerStatus as Go's encoding/json writes the generated struct (snake_case, omitempty). */
export function statusDump(c: ContainerContext): Buffer {
  const ns = (ms: number) => ms * 1_000_000;
  return json({
    id: c.containerId, metadata: { name: c.container, attempt: c.restartCount || undefined }, state: 1,
    created_at: ns(c.createdAt), started_at: ns(c.startedAt), image: { image: c.image }, image_ref: c.imageRef,
    labels: { 'io.kubernetes.container.name': c.container, 'io.kubernetes.pod.name': c.pod, 'io.kubernetes.pod.namespace': c.namespace, 'io.kubernetes.pod.uid': c.podUid },
    annotations: { 'io.kubernetes.container.restartCount': String(c.restartCount), 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log', 'io.kubernetes.pod.terminationGracePeriod': '30' },
    mounts: [{ container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: `/var/lib/kubelet/pods/${c.podUid}/volumes/kubernetes.io~projected/kube-api-access-7xk2p`, readonly: true }],
    log_path: logPath(c),
  }, 'containerd');
}

/** The containerd CRI plugin's own `status` file (versioned containerstore.Status). */
export function containerdStatus(c: ContainerContext): Buffer {
  return json({ Version: 'v1', Pid: c.hostPid, CreatedAt: c.createdAt * 1_000_000, StartedAt: c.startedAt * 1_000_000, FinishedAt: 0, ExitCode: 0, Reason: '', Message: '', Starting: false, Removing: false, Unknown: false, Resources: null }, 'containerd');
}

/** The CRI log format: `<RFC3339Nano> stdout F <line>`. */
export function criLog(c: ContainerContext): Buffer {
  return Buffer.from(c.logLines.map((l, i) => `${new Date(c.startedAt + i * 1000).toISOString().replace('Z', '000000Z')} stdout F ${l}\n`).join(''));
}

export function dumpLog(c: ContainerContext, pids: number[]): Buffer {
  const t = (s: number) => `(${s.toFixed(6).padStart(9, '0')})`;
  const lines = [
    `${t(0)} Version: 3.19 (gitid 0)`,
    `${t(0.000021)} Running on Linux 6.8.0-49-generic #49-Ubuntu SMP PREEMPT_DYNAMIC x86_64`,
    `${t(0.000154)} Will dump/restore TCP connections`,
    `${t(0.000160)} Leaving tasks running after dump`,
    `${t(0.001822)} Dumping processes (pid: ${c.hostPid} comm: sh)`,
    `${t(0.002003)} ========================================`,
    ...pids.map((p, i) => `${t(0.00231 + i * 0.00041)} Seized task ${p}, state 1`),
    `${t(0.004188)} Collecting netns 9/${c.hostPid}`,
    `${t(0.011432)} Dumping pstree (pid: ${c.hostPid})`,
    `${t(0.019871)} Writing stats`,
    `${t(0.020010)} Dumping finished successfully`,
  ];
  return Buffer.from(lines.join('\n') + '\n');
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
    { name: 'tmp/.x/x.sh', mode: 0o755, mtime, body: Buffer.from('#!/bin/sh\ncd /tmp/.x && chmod +x kworkerd && nohup ./kworkerd -c config.json >/dev/null 2>&1 &\n') },
  ];
  if (c.layout === 'crio') return tarToBuffer(entries);
  return gzipSync(await tarToBuffer([...entries, { name: 'var/log/app/', mode: 0o755, mtime }, { name: 'var/log/app/.wh.access.log', mode: 0o600, mtime, body: Buffer.alloc(0) }]));
}
