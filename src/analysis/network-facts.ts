/**
 * The container's addresses, where each engine keeps them in a checkpoint archive.
 *
 * - CRI-O annotates the pod's addresses in the spec: `io.kubernetes.cri-o.IP.0`, `.IP.1`, …
 * - Podman writes `network.status`: since 4.0 a map of network name → {interfaces: {name →
 *   {subnets: [{ipnet, gateway}], mac_address}}} (c/common's StatusBlock); Podman 3 wrote the
 *   CNI results as a list of {interfaces: [{name, mac, sandbox}], ips: [{address, gateway,
 *   interface}]}. `null` means no network (`--network=none`, the host's).
 * - containerd writes no address: the pod's network namespace is not in the container's dump.
 */
import type { AnalysisWarning } from './criu/criu-model.js';
import type { ContainerFacts, NetworkAttachment } from './inspection.js';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const bare = (cidr: string) => cidr.replace(/\/\d+$/, '');

/** Podman ≥ 4: {network: {interfaces: {eth0: {subnets: [{ipnet, gateway}], mac_address}}}}. */
function fromStatusBlocks(v: Json): NetworkAttachment[] {
  const out: NetworkAttachment[] = [];
  for (const [network, block] of Object.entries(v)) {
    for (const [name, iface] of Object.entries(obj(obj(block)?.interfaces) ?? {})) {
      const i = obj(iface);
      if (!i) continue;
      const subnets = Array.isArray(i.subnets) ? i.subnets.map(obj).filter((s): s is Json => s !== undefined) : [];
      const addresses = subnets.map((s) => str(s.ipnet)).filter((x): x is string => x !== undefined);
      const gateway = subnets.map((s) => str(s.gateway)).find((x) => x !== undefined);
      const mac = str(i.mac_address);
      out.push({ network, interface: name, addresses, ...(mac && { mac }), ...(gateway && { gateway }) });
    }
  }
  return out;
}

/** Podman 3 (CNI): [{interfaces: [{name, mac, sandbox}], ips: [{address, gateway, interface}]}]. */
function fromCniResults(list: unknown[]): NetworkAttachment[] {
  const out: NetworkAttachment[] = [];
  list.forEach((r, n) => {
    const result = obj(r);
    if (!result) return;
    const ifaces = Array.isArray(result.interfaces) ? result.interfaces.map(obj) : [];
    for (const ip of Array.isArray(result.ips) ? result.ips.map(obj) : []) {
      const address = str(ip?.address);
      if (!ip || !address) continue;
      const iface = typeof ip.interface === 'number' ? ifaces[ip.interface] : undefined;
      const mac = str(iface?.mac),
        gateway = str(ip.gateway);
      const name = str(iface?.name) ?? '';
      const same = out.find((a) => a.network === `cni-${n}` && a.interface === name);
      if (same) {
        same.addresses.push(address);
        continue;
      }
      out.push({ network: `cni-${n}`, interface: name, addresses: [address], ...(mac && { mac }), ...(gateway && { gateway }) });
    }
  });
  return out;
}

export function networkFacts(
  annotations: Json,
  networkStatus: Buffer | undefined,
  warnings: AnalysisWarning[],
): Pick<ContainerFacts, 'ip' | 'mac' | 'networks'> {
  const crioIp = str(annotations['io.kubernetes.cri-o.IP.0']);
  // Podman copies CRI-O's annotations but not the IP; a CRI-O address on a Podman archive is still one
  if (!networkStatus) return crioIp ? { ip: crioIp } : {};
  let v: unknown;
  try {
    v = JSON.parse(networkStatus.toString('utf8'));
  } catch (e) {
    warnings.push({ file: 'network.status', message: `not JSON: ${(e as Error).message}` });
    return crioIp ? { ip: crioIp } : {};
  }
  if (v === null) return crioIp ? { ip: crioIp } : {};
  const networks = Array.isArray(v) ? fromCniResults(v) : obj(v) ? fromStatusBlocks(obj(v) as Json) : undefined;
  if (networks === undefined) {
    warnings.push({ file: 'network.status', message: 'neither a map of networks nor a list of CNI results' });
    return crioIp ? { ip: crioIp } : {};
  }
  const first = networks.find((n) => n.addresses.length > 0);
  const ip = crioIp ?? (first ? bare(first.addresses[0] as string) : undefined);
  const mac = (first ?? networks.find((n) => n.mac))?.mac;
  return { ...(ip && { ip }), ...(mac && { mac }), ...(networks.length > 0 && { networks }) };
}
