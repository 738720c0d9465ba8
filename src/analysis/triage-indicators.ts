/**
 * The triage report's indicators: facts in an inspection that an analyst should look at first.
 * Each is derived from the inspection alone (no network, no external intelligence), names the
 * process or path it is about and carries the evidence it was drawn from.
 */
import type { InspectedProcess, InspectedSocket, Inspection } from './inspection.js';

export interface Indicator {
  /**
   * stable, for scripts: `reverse-shell`, `reverse-shell-cmdline`, `executable-added`, `exe-deleted`, `exe-memfd`, `mining-port`,
   * `mining-cmdline`, `reverse-shell-port`, `backdoor-listener`, `frozen-time`; from YARA rules (yara/yara-indicators.ts) `yara-match`,
   * `yara-incomplete`; from indicator lists
   * (lists/list-matcher.ts) `listed-hash`, `listed-address`, `listed-domain`
   */
  id: string;
  severity: 'high' | 'medium' | 'info';
  summary: string;
  pid?: number;
  path?: string;
  evidence?: Record<string, unknown>;
}

/** Remote ports stratum mining pools conventionally serve (XMRig pool lists, Monero/ETH pools): a workload rarely talks to them for any other reason. */
export const MINING_PORTS: readonly number[] = [3333, 3334, 3357, 5555, 5556, 7777, 14433, 14444, 45560, 45700];

/** Ports that reverse-shell handlers and backdoors default to (Metasploit 4444/4445, "leet" 1337/31337, IRC botnet C2 6666/6667, 9001). */
export const REVERSE_SHELL_PORTS: readonly number[] = [1337, 4444, 4445, 6666, 6667, 9001, 31337];

/** Interactive shells by program name (busybox counts when it runs as one of them). */
export const SHELLS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'dash',
  'zsh',
  'ash',
  'ksh',
  'mksh',
  'pdksh',
  'oksh',
  'yash',
  'tcsh',
  'csh',
  'fish',
  'rbash',
]);

/** Where an added executable is a stronger signal: world-writable scratch space and hidden folders. */
const SCRATCH = /^\/(tmp|var\/tmp|dev\/shm|run\/shm)\/|\/\.[^/]+\//;
const DELETED_SUFFIX = ' (deleted)';
const MINER_ARGS = /stratum\+(tcp|ssl|tls):\/\/|--donate-level|\bxmrig\b|cryptonight|randomx|\brx\/0\b/i;

/**
 * The reverse-shell one-liners of the usual cheat sheets, as they appear in a command line (often
 * inside a `sh -c` script): a netcat that executes a shell, bash's /dev/tcp redirection, socat
 * exec, a fifo piped through nc or telnet, and interpreter one-liners that dup a socket onto a shell.
 */
const REVERSE_SHELL_COMMANDS: readonly RegExp[] = [
  /\b(nc|ncat|netcat)\b[^|;&\n]*\s-[a-z]*[ec]\s*['"]?\S*\b(sh|bash|dash|ash|zsh)\b/,
  /\/dev\/(tcp|udp)\/[^\s/]+\/\d+/,
  /\bsocat\b[^;\n]*\b(exec|system):/i,
  /\bmk(fifo|nod)\b[^\n]*\|\s*(\S*\/)?(nc|ncat|netcat|telnet|openssl)\b/,
  /\b(python[23]?|perl|ruby|php)\b[^\n]*\bsocket\b[^\n]*\b(dup2|pty\.spawn|fsockopen|subprocess)\b/i,
];

const base = (p: string | undefined) => (p ? p.slice(p.lastIndexOf('/') + 1) : '');

function isShell(p: InspectedProcess): boolean {
  const exe = base(stripDeleted(p.exe));
  const argv0 = base(p.cmdline[0]).replace(/^-/, ''); // a login shell's argv[0] starts with '-'
  return SHELLS.has(p.comm) || SHELLS.has(exe) || SHELLS.has(argv0);
}

function stripDeleted(path: string | undefined): string | undefined {
  return path?.endsWith(DELETED_SUFFIX) ? path.slice(0, -DELETED_SUFFIX.length) : path;
}

function remotePort(s: InspectedSocket): number | undefined {
  const m = /:(\d+)$/.exec(s.remote ?? '');
  return m ? Number(m[1]) : undefined;
}

function localPort(s: InspectedSocket): number | undefined {
  const m = /:(\d+)$/.exec(s.local ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A socket as an indicator's evidence shows it (the fields that are set). */
export function sockDesc(s: InspectedSocket): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries({ fd: s.fd, kind: s.kind, protocol: s.protocol, state: s.state, local: s.local, remote: s.remote, path: s.path }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

export function triageIndicators(inspection: Inspection): Indicator[] {
  const out: Indicator[] = [];
  const deleted = new Set(inspection.rootfsDiff.deleted);
  const exeUsers = new Map<string, number[]>();
  for (const p of inspection.processes) {
    const exe = stripDeleted(p.exe);
    if (exe) exeUsers.set(exe, [...(exeUsers.get(exe) ?? []), p.pid]);
  }

  for (const p of inspection.processes) {
    if (isShell(p)) {
      const std = p.sockets.filter((s) => s.fd === 0 || s.fd === 1);
      if (std.length > 0) {
        const inet = std.some((s) => s.kind === 'inet');
        const peer = std.find((s) => s.remote)?.remote ?? std.find((s) => s.path)?.path;
        out.push({
          id: 'reverse-shell',
          severity: inet ? 'high' : 'medium',
          pid: p.pid,
          summary: `${p.comm} (pid ${p.pid}) has its ${std.map((s) => (s.fd === 0 ? 'stdin' : 'stdout')).join(' and ')} on a socket${peer ? ` to ${peer}` : ''}`,
          evidence: { comm: p.comm, cmdline: p.cmdline, sockets: std.map(sockDesc) },
        });
      }
    }

    const exe = p.exe;
    if (exe !== undefined) {
      const path = stripDeleted(exe) ?? exe;
      if (/^\/?memfd:/.test(path)) {
        out.push({
          id: 'exe-memfd',
          severity: 'high',
          pid: p.pid,
          path,
          summary: `${p.comm} (pid ${p.pid}) runs from an anonymous memory file (${path}): fileless execution`,
          evidence: { exe },
        });
      } else if (exe.endsWith(DELETED_SUFFIX) || deleted.has(path)) {
        out.push({
          id: 'exe-deleted',
          severity: 'high',
          pid: p.pid,
          path,
          summary: `${p.comm} (pid ${p.pid}) runs ${path}, which was deleted from the filesystem`,
          evidence: { exe, inDeletedList: deleted.has(path) },
        });
      }
    }

    const args = p.cmdline.join(' ');
    const revCmd = REVERSE_SHELL_COMMANDS.map((re) => re.exec(args)).find((m) => m);
    if (revCmd) {
      out.push({
        id: 'reverse-shell-cmdline',
        severity: 'high',
        pid: p.pid,
        summary: `${p.comm} (pid ${p.pid}) runs a reverse-shell command (${revCmd[0]})`,
        evidence: { cmdline: p.cmdline, match: revCmd[0] },
      });
    }
    const miner = MINER_ARGS.exec(args);
    if (miner) {
      out.push({
        id: 'mining-cmdline',
        severity: 'high',
        pid: p.pid,
        summary: `${p.comm} (pid ${p.pid}) has a crypto-miner argument (${miner[0]})`,
        evidence: { cmdline: p.cmdline },
      });
    }

    const seen = new Set<number>();
    for (const s of p.sockets) {
      if (s.kind !== 'inet') continue;
      // one socket on several fds (a shell's 0, 1 and 2) is one connection
      if (seen.has(s.inode)) continue;
      seen.add(s.inode);
      const rport = remotePort(s);
      if (rport !== undefined && rport !== 0 && s.state !== 'LISTEN') {
        if (MINING_PORTS.includes(rport)) {
          out.push({
            id: 'mining-port',
            severity: 'high',
            pid: p.pid,
            summary: `${p.comm} (pid ${p.pid}) is connected to ${s.remote}, a port mining pools use`,
            evidence: sockDesc(s),
          });
        }
        if (REVERSE_SHELL_PORTS.includes(rport)) {
          out.push({
            id: 'reverse-shell-port',
            severity: 'high',
            pid: p.pid,
            summary: `${p.comm} (pid ${p.pid}) is connected to ${s.remote}, a port reverse-shell handlers default to`,
            evidence: sockDesc(s),
          });
        }
      }
      const lport = localPort(s);
      if (s.state === 'LISTEN' && lport !== undefined && REVERSE_SHELL_PORTS.includes(lport)) {
        out.push({
          id: 'backdoor-listener',
          severity: 'medium',
          pid: p.pid,
          summary: `${p.comm} (pid ${p.pid}) listens on ${s.local}, a port backdoors default to`,
          evidence: sockDesc(s),
        });
      }
    }
  }

  for (const f of inspection.rootfsDiff.added) {
    if (f.type !== 'file' || !f.executable) continue;
    const running = exeUsers.get(f.path) ?? [];
    const severity = running.length > 0 || SCRATCH.test(f.path) ? 'high' : 'medium';
    out.push({
      id: 'executable-added',
      severity,
      path: f.path,
      summary: `executable ${f.path} was added to the container's filesystem${running.length > 0 ? ` and is running (pid ${running.join(', ')})` : ''}`,
      evidence: { sha256: f.sha256, size: f.size, mode: f.mode, ...(running.length > 0 ? { runningAs: running } : {}) },
    });
  }

  const frozen = inspection.stats.frozenTimeUs;
  if (frozen !== undefined) {
    const ms = Math.round(frozen / 100) / 10;
    out.push({
      id: 'frozen-time',
      severity: 'info',
      summary: `the container was frozen for ${ms} ms while it was checkpointed`,
      evidence: {
        frozenMs: ms,
        ...(inspection.stats.freezingTimeUs === undefined ? {} : { freezingMs: Math.round(inspection.stats.freezingTimeUs / 100) / 10 }),
      },
    });
  }
  return out;
}
