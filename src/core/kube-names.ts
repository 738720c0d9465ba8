/**
 * Kubernetes name rules. Names from alerts end up in object keys and file paths later on,
 * so anything that is not a valid name is refused at the door.
 */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Falco's container.id: 12 hex chars; container.full_id: 64 hex chars (runtime prefix stripped). */
const CONTAINER_ID = /^[0-9a-f]{12}([0-9a-f]{52})?$/;

export type NameKind = 'namespace' | 'pod' | 'container' | 'podUID' | 'containerID';

export function isValidName(kind: NameKind, value: string): boolean {
  switch (kind) {
    case 'namespace':
    case 'container':
      return value.length <= 63 && DNS1123_LABEL.test(value);
    case 'pod':
      return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
    case 'podUID':
      return UID.test(value);
    case 'containerID':
      return CONTAINER_ID.test(value);
  }
}

/** Strips `containerd://`, `cri-o://`, `docker://` from a containerStatuses[].containerID. */
export function bareContainerID(id: string): string {
  const i = id.indexOf('://');
  return i === -1 ? id : id.slice(i + 3);
}
