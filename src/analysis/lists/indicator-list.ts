/**
 * Indicator lists: files of what a security team already knows is bad (README "Indicator lists").
 * One entry a line; `#` starts a comment (a whole line, or after an entry, where it becomes the
 * entry's note in the indicator); blank lines are ignored. A line that is not an entry of the
 * list's kind refuses the whole list, naming the file and the line: a list that loads half would
 * miss what its author meant it to find, and say nothing.
 */
import { createHash } from 'node:crypto';
import { AmberError } from '../../core/amber-error.js';
import type { Indicator } from '../triage-indicators.js';
import { hasHostBits, parseNet, type IpNet } from './ip-address.js';

export type ListKind = 'sha256' | 'address' | 'domain';

/** One list as the settings name it (`analysis.lists[]`). */
export interface ListSpec {
  readonly name: string;
  readonly kind: ListKind;
  readonly path: string;
  /** of the indicators it yields; default high (a team lists what it wants to hear about) */
  readonly severity?: Indicator['severity'];
}

export interface ListEntry {
  /** as written in the file (trimmed), what the indicator names */
  readonly entry: string;
  readonly line: number;
  /** the comment after the entry, if any */
  readonly note?: string;
}

export interface AddressEntry extends ListEntry {
  readonly net: IpNet;
  /** only this port; absent: any */
  readonly port?: number;
}

interface Loaded {
  readonly name: string;
  readonly path: string;
  readonly severity: Indicator['severity'];
  /** of the file's bytes: the report records which version of the list it matched against */
  readonly sha256: string;
  readonly size: number;
}

/** A loaded list. Hashes are lower-case hex; domains lower-case, without a trailing dot. */
export type IndicatorList =
  | (Loaded & { readonly kind: 'sha256'; readonly hashes: ReadonlyMap<string, ListEntry> })
  | (Loaded & { readonly kind: 'address'; readonly addresses: readonly AddressEntry[] })
  | (Loaded & { readonly kind: 'domain'; readonly domains: ReadonlyMap<string, ListEntry> });

/** The lists in force now (IndicatorLists, or a fixed set for `amber inspect --list`). */
export interface ListSource {
  current(): Promise<readonly IndicatorList[]>;
}

/** Lines longer than this are refused: a list is written by people, and a domain is at most 253. */
const MAX_LINE = 1024;
const SHA256 = /^[0-9a-fA-F]{64}$/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function entryCount(list: IndicatorList): number {
  return list.kind === 'sha256' ? list.hashes.size : list.kind === 'domain' ? list.domains.size : list.addresses.length;
}

/** Parses a list file's bytes; throws INDICATOR_LIST_INVALID with `file`, `line` and `problem`. */
export function parseIndicatorList(spec: ListSpec, bytes: Buffer): IndicatorList {
  const loaded: Loaded = {
    name: spec.name,
    path: spec.path,
    severity: spec.severity ?? 'high',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
  };
  const hashes = new Map<string, ListEntry>();
  const domains = new Map<string, ListEntry>();
  const addresses: AddressEntry[] = [];
  // a byte-order mark is what some editors start a UTF-8 file with, not part of the first entry
  const lines = bytes
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    const bad = (problem: string): never => {
      throw new AmberError('INDICATOR_LIST_INVALID', { list: spec.name, file: spec.path, line, problem });
    };
    if (raw.length > MAX_LINE) bad(`longer than ${MAX_LINE} characters`);
    const hash = raw.indexOf('#');
    const entry = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (entry === '') continue;
    const comment = hash < 0 ? '' : raw.slice(hash + 1).trim();
    const note = comment === '' ? {} : { note: comment };
    if (/\s/.test(entry)) bad(`'${entry}' holds a space: one entry a line (a note goes after a #)`);
    if (spec.kind === 'sha256') {
      if (!SHA256.test(entry)) bad(`'${entry}' is not a SHA-256 (64 hex digits)`);
      // an entry listed twice is one entry, named by its first line
      if (!hashes.has(entry.toLowerCase())) hashes.set(entry.toLowerCase(), { entry, line, ...note });
    } else if (spec.kind === 'domain') {
      const problem = domainProblem(entry);
      if (problem) bad(problem);
      if (!domains.has(normalDomain(entry))) domains.set(normalDomain(entry), { entry, line, ...note });
    } else {
      const parsed = parseAddressEntry(entry);
      if (typeof parsed === 'string') bad(parsed);
      if (!addresses.some((a) => a.entry === entry)) addresses.push({ ...(parsed as Omit<AddressEntry, 'line' | 'entry'>), entry, line, ...note });
    }
  }
  if (spec.kind === 'sha256') return { ...loaded, kind: 'sha256', hashes };
  if (spec.kind === 'domain') return { ...loaded, kind: 'domain', domains };
  return { ...loaded, kind: 'address', addresses };
}

export const normalDomain = (d: string): string => d.toLowerCase().replace(/\.$/, '');

function domainProblem(entry: string): string | undefined {
  if (entry.startsWith('*.')) return `'${entry}': write ${entry.slice(2)} — a listed domain matches its subdomains too`;
  if (/[^\x21-\x7e]/.test(entry)) return `'${entry}' is not ASCII: write an internationalised name as its xn-- form`;
  const name = normalDomain(entry);
  if (name.length > 253) return `'${entry}' is longer than a domain name can be (253)`;
  const labels = name.split('.');
  if (labels.length < 2) return `'${entry}' has one label: a domain needs at least two (a single label would match every name under it)`;
  const badLabel = labels.find((l) => !LABEL.test(l));
  if (badLabel !== undefined) return `'${entry}' has a label that is not a DNS label ('${badLabel}')`;
  return undefined;
}

/**
 * `ADDR`, `ADDR/LEN`, `IPV4[/LEN]:PORT` or `[IPV6[/LEN]]:PORT`: the entry, or the problem.
 * A bare IPv6 address never has a port (`2001:db8::1:443` is an address): ports need brackets.
 */
export function parseAddressEntry(entry: string): { net: IpNet; port?: number } | string {
  let host = entry;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  const v4port = /^([0-9./]+):(\d+)$/.exec(entry);
  if (bracket) {
    host = bracket[1] as string;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (v4port) {
    host = v4port[1] as string;
    port = Number(v4port[2]);
  }
  if (port !== undefined && !(port >= 1 && port <= 65535)) return `'${entry}': the port must be 1–65535`;
  const net = parseNet(host);
  if (!net) return `'${entry}' is not an IP address or CIDR block (ADDR, ADDR/LEN, ADDR:PORT, [IPV6]:PORT)`;
  if (hasHostBits(net)) return `'${entry}' has bits set past its /${host.slice(host.indexOf('/') + 1)}: write the block's first address`;
  return port === undefined ? { net } : { net, port };
}
