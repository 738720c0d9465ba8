/**
 * Where a simulated container lives on its node, per runtime: cgroup, rootfs, log, and the bind
 * mounts the kubelet and the runtime give it. The OCI spec (spec.dump), CRI-O's bind.mounts and
 * CRIU's mountpoints / cgroup images are all built from these, so they agree with each other as
 * they do on a real node.
 *
 * Layouts follow the real archives in test/fixtures/real-checkpoints (cgroupfs driver, cgroup v1):
 * CRI-O `/kubepods/besteffort/pod<uid>/crio-<id>`, sandbox files under
 * /run/containers/storage/overlay-containers/<sandbox>/userdata; containerd
 * `/kubepods/besteffort/pod<uid>/<id>`, sandbox files under the CRI plugin's
 * /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/<sandbox>, shm under /run/containerd/….
 */
import { createHash } from 'node:crypto';

export type RuntimeLayout = 'crio' | 'containerd';

export interface ContainerIdentity {
  layout: RuntimeLayout;
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** 64 hex */
  containerId: string;
  sandboxId: string;
  restartCount: number;
}

export interface BindMount {
  destination: string;
  source: string;
  fileType: 'file' | 'directory';
  readOnly: boolean;
  /** the file system the source is on, as CRIU sees the bind: ext4 on the node's disk, or a tmpfs */
  fs: 'disk' | 'tmpfs';
}

/** The rw layer's id: a hash of the container id (storage picks its own, unrelated to the container id). */
export function layerId(c: Pick<ContainerIdentity, 'containerId'>): string {
  return createHash('sha256').update(`layer:${c.containerId}`).digest('hex');
}

export function cgroupPath(c: ContainerIdentity): string {
  return `/kubepods/besteffort/pod${c.podUid}/${c.layout === 'crio' ? 'crio-' : ''}${c.containerId}`;
}

export function rootfsPath(c: ContainerIdentity): string {
  return c.layout === 'crio' ? `/var/lib/containers/storage/overlay/${layerId(c)}/merged` : 'rootfs';
}

export function logPath(c: ContainerIdentity): string {
  return `/var/log/pods/${c.namespace}_${c.pod}_${c.podUid}/${c.container}/${c.restartCount}.log`;
}

/** The kubelet's volume for the service-account token (a projected volume: a tmpfs). */
export function serviceAccountVolume(c: ContainerIdentity): string {
  return `/var/lib/kubelet/pods/${c.podUid}/volumes/kubernetes.io~projected/kube-api-access-7xk2p`;
}

/** The bind mounts of a pod container, in the order the runtime puts them in the OCI spec. */
export function bindMounts(c: ContainerIdentity): BindMount[] {
  const kubelet = `/var/lib/kubelet/pods/${c.podUid}`;
  const sandbox =
    c.layout === 'crio'
      ? `/run/containers/storage/overlay-containers/${c.sandboxId}/userdata`
      : `/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/${c.sandboxId}`;
  const shm = c.layout === 'crio' ? `${sandbox}/shm` : `/run/containerd/io.containerd.grpc.v1.cri/sandboxes/${c.sandboxId}/shm`;
  const f = (destination: string, source: string, fileType: 'file' | 'directory' = 'file', readOnly = false, fs: 'disk' | 'tmpfs' = 'disk'): BindMount => ({
    destination,
    source,
    fileType,
    readOnly,
    fs,
  });
  return [
    f('/etc/hosts', `${kubelet}/etc-hosts`),
    f('/dev/termination-log', `${kubelet}/containers/${c.container}/0a1b2c3d`),
    f('/etc/hostname', `${sandbox}/hostname`),
    f('/etc/resolv.conf', `${sandbox}/resolv.conf`),
    f('/dev/shm', shm, 'directory', false, 'tmpfs'),
    f('/var/run/secrets/kubernetes.io/serviceaccount', serviceAccountVolume(c), 'directory', true, 'tmpfs'),
  ];
}
