/**
 * Indicator lists matched against one checkpoint: its rootfs diff and processes (hashes), its
 * sockets (addresses) and its memory (domains). One matcher per archive: it gathers the domain
 * matches while inspectCheckpoint reads the memory (`scan`), then `indicators(inspection)`.
 *
 * What a hash can be matched against: only bytes the archive holds. A file added or changed in
 * the container is in `rootfs-diff.tar` and hashed as it streams past; a process's executable
 * is matched when its path is such a file. An executable from the image's own layers is not in
 * the archive at all (CRIU dumps anonymous and dirty pages, not file-backed text), so it cannot
 * be hashed here and is not matched.
 */
import type { InspectedSocket, Inspection, MemoryMatch } from '../inspection.js';
import type { MemoryScan } from '../inspect-checkpoint.js';
import { sockDesc, type Indicator } from '../triage-indicators.js';
import { hostNamePattern, listedSuffixes } from './domain-pattern.js';
import type { AddressEntry, IndicatorList, ListEntry } from './indicator-list.js';
import { netContains, parseEndpoint } from './ip-address.js';

/**
 * Domain matches looked at per archive: the search keeps each one it reports (to report none
 * twice), so it stops past this with a warning, and memory stays bounded whatever the dump holds.
 * Each indicator needs only the first match and a count.
 */
export const MAX_DOMAIN_MATCHES = 10_000;

interface DomainHit {
  first: MemoryMatch;
  /** the name as found (the listed domain, or a subdomain of it) */
  name: string;
  count: number;
}

const DELETED = ' (deleted)';
const named = (list: IndicatorList, e: ListEntry) => ({ list: list.name, entry: e.entry, ...(e.note === undefined ? {} : { note: e.note }) });

export class ListMatcher {
  /** listed domain → pid → first match and count */
  private readonly hits = new Map<string, Map<number, DomainHit>>();
  /** inspectCheckpoint's `scan` for the listed domains; undefined when no list has any */
  readonly scan: MemoryScan | undefined;

  constructor(private readonly lists: readonly IndicatorList[]) {
    const domainLists = lists.filter((l) => l.kind === 'domain');
    // one list's map is used as it is: a large list is not copied for every archive
    const listed: ReadonlySet<string> | ReadonlyMap<string, unknown> =
      domainLists.length === 1
        ? (domainLists[0] as Extract<IndicatorList, { kind: 'domain' }>).domains
        : new Set(domainLists.flatMap((l) => [...l.domains.keys()]));
    // most names in memory (libc.so.6, GLIBC_2.2.5) end in a label no listed domain ends in: one lookup rules them out
    const lastLabels = new Set([...listed.keys()].map((d) => d.slice(d.lastIndexOf('.') + 1)));
    this.scan =
      listed.size === 0
        ? undefined
        : {
            pattern: hostNamePattern(),
            maxMatches: MAX_DOMAIN_MATCHES,
            accept: (bytes) =>
              lastLabels.has(bytes.toString('latin1', bytes.lastIndexOf(0x2e) + 1).toLowerCase()) &&
              listedSuffixes(bytes.toString('latin1'), listed, true).length > 0,
            onMatch: (m, bytes) => this.record(m, bytes.toString('latin1'), listed),
          };
  }

  /** under every listed domain the name is under: each list that names one of them says so */
  private record(m: MemoryMatch, name: string, listed: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const domain of listedSuffixes(name, listed)) {
      const byPid = this.hits.get(domain) ?? new Map<number, DomainHit>();
      const hit = byPid.get(m.pid);
      if (hit) hit.count++;
      else byPid.set(m.pid, { first: m, name: name.toLowerCase(), count: 1 });
      this.hits.set(domain, byPid);
    }
  }

  indicators(inspection: Inspection): Indicator[] {
    const out: Indicator[] = [];
    for (const list of this.lists) {
      if (list.kind === 'sha256') out.push(...hashIndicators(list, inspection));
      else if (list.kind === 'address') out.push(...addressIndicators(list, inspection));
      else out.push(...this.domainIndicators(list, inspection));
    }
    return out;
  }

  private domainIndicators(list: Extract<IndicatorList, { kind: 'domain' }>, inspection: Inspection): Indicator[] {
    const comm = new Map(inspection.processes.map((p) => [p.pid, p.comm]));
    const out: Indicator[] = [];
    for (const [domain, e] of list.domains) {
      for (const [pid, hit] of this.hits.get(domain) ?? []) {
        const who = comm.has(pid) ? `${comm.get(pid)} (pid ${pid})` : `pid ${pid}`;
        out.push({
          id: 'listed-domain',
          severity: list.severity,
          pid,
          summary: `${who} has ${hit.name === domain ? domain : `${hit.name} (under ${domain})`} in its memory (${hit.count}×), listed in ${list.name}`,
          evidence: { ...named(list, e), domain, found: hit.name, address: hit.first.address, context: hit.first.context, matches: hit.count },
        });
      }
    }
    return out;
  }
}

function hashIndicators(list: Extract<IndicatorList, { kind: 'sha256' }>, inspection: Inspection): Indicator[] {
  const out: Indicator[] = [];
  const byPath = new Map(inspection.rootfsDiff.added.map((f) => [f.path, f]));
  // a hard link in the diff has the bytes of the file it names
  const hashOf = (path: string) => {
    const f = byPath.get(path);
    return f?.sha256 ?? (f?.type === 'hardlink' && f.linkTarget ? byPath.get(f.linkTarget)?.sha256 : undefined);
  };
  for (const f of inspection.rootfsDiff.added) {
    const sha256 = hashOf(f.path);
    const e = sha256 === undefined ? undefined : list.hashes.get(sha256);
    if (!e) continue;
    out.push({
      id: 'listed-hash',
      severity: list.severity,
      path: f.path,
      summary: `${f.path}, ${f.type === 'hardlink' ? 'linked' : 'added or changed'} in the container's filesystem, has a SHA-256 listed in ${list.name}`,
      evidence: { ...named(list, e), sha256, size: f.size, mode: f.mode, in: 'rootfs-diff' },
    });
  }
  for (const p of inspection.processes) {
    if (p.exe === undefined || p.exe.endsWith(DELETED)) continue; // a deleted executable's bytes are not in the diff
    const sha256 = hashOf(p.exe);
    const e = sha256 === undefined ? undefined : list.hashes.get(sha256);
    if (!e) continue;
    out.push({
      id: 'listed-hash',
      severity: list.severity,
      pid: p.pid,
      path: p.exe,
      summary: `${p.comm} (pid ${p.pid}) runs ${p.exe}, whose SHA-256 is listed in ${list.name}`,
      evidence: { ...named(list, e), sha256, exe: p.exe, in: 'executable' },
    });
  }
  return out;
}

function addressIndicators(list: Extract<IndicatorList, { kind: 'address' }>, inspection: Inspection): Indicator[] {
  const out: Indicator[] = [];
  for (const p of inspection.processes) {
    const seen = new Set<number>();
    for (const s of p.sockets) {
      if (s.kind !== 'inet' || seen.has(s.inode)) continue;
      seen.add(s.inode); // one socket on several fds (a shell's 0, 1 and 2) is one connection
      for (const e of list.addresses) {
        const sides = endsMatching(s, e);
        if (sides.length === 0) continue;
        const at = sides.includes('remote') ? `a connection to ${s.remote}` : `a socket on ${s.local}`;
        out.push({
          id: 'listed-address',
          severity: list.severity,
          pid: p.pid,
          summary: `${p.comm} (pid ${p.pid}) has ${at}, listed in ${list.name} (${e.entry})`,
          evidence: { ...named(list, e), sides, ...sockDesc(s) },
        });
      }
    }
  }
  return out;
}

function endsMatching(s: InspectedSocket, e: AddressEntry): ('local' | 'remote')[] {
  const sides: ('local' | 'remote')[] = [];
  for (const side of ['remote', 'local'] as const) {
    const end = parseEndpoint(s[side]);
    if (end && netContains(e.net, end.ip) && (e.port === undefined || e.port === end.port)) sides.push(side);
  }
  return sides;
}
