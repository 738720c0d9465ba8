/**
 * IP addresses as numbers, for matching sockets against address lists. An IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`, what a dual-stack socket shows for an IPv4 peer) is read as the
 * IPv4 address it carries, so that one IPv4 entry matches both kinds of socket.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** An address block: `prefix` leading bits of `value` (32 or 128 for one address). */
export interface IpNet extends IpAddress {
  readonly prefix: number;
}

const MAPPED = 0xffffn << 32n;

function v4Value(text: string): bigint {
  return text.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function v6Value(text: string): bigint {
  // an embedded IPv4 tail (`::ffff:1.2.3.4`) is two groups
  let groups = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = v4Value(text.slice(lastColon + 1));
    groups = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = groups.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** `1.2.3.4` or an IPv6 address (no brackets, no zone); undefined when it is neither. */
export function parseIp(text: string): IpAddress | undefined {
  if (isIPv4(text)) return { family: 4, value: v4Value(text) };
  if (!isIPv6(text) || text.includes('%')) return undefined;
  const value = v6Value(text);
  return value >> 32n === 0xffffn ? { family: 4, value: value - MAPPED } : { family: 6, value };
}

/** `ADDR` or `ADDR/LEN`; undefined when it does not parse. A mapped IPv6 block becomes the IPv4 one. */
export function parseNet(text: string): IpNet | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const written = isIPv6(slash < 0 ? text : text.slice(0, slash)) ? 128 : 32;
  let prefix = written;
  if (slash >= 0) {
    const len = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(len) || Number(len) > written) return undefined;
    prefix = Number(len);
  }
  if (ip.family === 4 && written === 128) {
    // ::ffff:0:0/96 and longer are IPv4 blocks; shorter ones reach outside the mapped range
    if (prefix < 96) return undefined;
    prefix -= 96;
  }
  return { ...ip, prefix };
}

/** Whether `net` has host bits set (`10.0.0.1/8`): almost always a typo for the block or the host. */
export function hasHostBits(net: IpNet): boolean {
  return (net.value & hostMask(net)) !== 0n;
}

function hostMask(net: IpNet): bigint {
  const bits = net.family === 4 ? 32 : 128;
  return (1n << BigInt(bits - net.prefix)) - 1n;
}

export function netContains(net: IpNet, ip: IpAddress): boolean {
  if (net.family !== ip.family) return false;
  const mask = hostMask(net);
  return (ip.value & ~mask) === (net.value & ~mask);
}

/**
 * A socket end as the inspection writes it: `1.2.3.4:80` or `[2001:db8::1]:443`. Undefined for
 * anything else (a unix path).
 */
export function parseEndpoint(text: string | undefined): { ip: IpAddress; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text ?? '');
  if (!m) return undefined;
  const ip = parseIp(m[1] ?? m[2] ?? '');
  return ip ? { ip, port: Number(m[3]) } : undefined;
}
