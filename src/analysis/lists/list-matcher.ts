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
import { domainPattern } from './domain-pattern.js';
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
    const domains = new Set(lists.flatMap((l) => (l.kind === 'domain' ? [...l.domains.keys()] : [])));
    const pattern = domainPattern(domains);
    this.scan = pattern && { pattern, maxMatches: MAX_DOMAIN_MATCHES, onMatch: (m, bytes) => this.record(m, bytes) };
  }

  private record(m: MemoryMatch, bytes: Buffer): void {
    const domain = bytes.toString('latin1').toLowerCase();
    const byPid = this.hits.get(domain) ?? new Map<number, DomainHit>();
    const hit = byPid.get(m.pid);
    if (hit) hit.count++;
    else byPid.set(m.pid, { first: m, count: 1 });
    this.hits.set(domain, byPid);
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
          summary: `${who} has ${domain} in its memory (${hit.count}×), listed in ${list.name}`,
          evidence: { ...named(list, e), domain, address: hit.first.address, context: hit.first.context, matches: hit.count },
        });
      }
    }
    return out;
  }
}

function hashIndicators(list: Extract<IndicatorList, { kind: 'sha256' }>, inspection: Inspection): Indicator[] {
  const out: Indicator[] = [];
  const files = new Map(inspection.rootfsDiff.added.flatMap((f) => (f.sha256 === undefined ? [] : [[f.path, f] as const])));
  // a hard link in the diff has the bytes of the file it names
  const hashOf = (path: string) => {
    const f = inspection.rootfsDiff.added.find((a) => a.path === path);
    return f?.sha256 ?? (f?.type === 'hardlink' && f.linkTarget ? files.get(f.linkTarget)?.sha256 : undefined);
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
