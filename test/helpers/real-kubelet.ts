// The real kubelet's answers in test/fixtures/real-kubelet/ (kubelet 1.32 + CRI-O 1.32 + runc +
// CRIU 4.2, recorded with `curl -i`), parsed: the sim's tests replay each against the simulated
// kubelet, and amber's kubelet-client tests classify them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REAL_KUBELET_DIR = fileURLToPath(new URL('../fixtures/real-kubelet/', import.meta.url));

export interface RealAnswer {
  readonly file: string;
  readonly status: number;
  /** lower-case names, as HTTP/2 sends them */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** One `curl -i` recording: status line, headers, blank line, body (CRLF in the head, bytes as sent after it). */
export function readCurlAnswer(file: string): RealAnswer {
  const raw = readFileSync(`${REAL_KUBELET_DIR}${file}`, 'utf8');
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`${file}: no end of headers`);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const m = /^HTTP\/[\d.]+ (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`${file}: no status line`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { file, status: Number(m[1]), headers, body: raw.slice(end + 4) };
}

/**
 * The parallel-requests recording (16): `HTTP <status>` on a line, then the body, then the
 * newline the recording script added after it; no headers.
 */
export function readStatusBodyAnswers(file: string): RealAnswer[] {
  const raw = readFileSync(`${REAL_KUBELET_DIR}${file}`, 'utf8');
  const marks = [...raw.matchAll(/^HTTP (\d{3})\n/gm)];
  return marks.map((m, i) => {
    const from = (m.index ?? 0) + m[0].length;
    const to = i + 1 < marks.length ? (marks[i + 1]?.index ?? raw.length) : raw.length;
    return { file, status: Number(m[1]), headers: {}, body: raw.slice(from, to).replace(/\n$/, '') };
  });
}

/** The variable parts of a runtime's text: the container id, the target, the runtime log's time. */
export function runtimeTextParts(body: string): { target: string; containerId: string; time: string } {
  const target = /^checkpointing of (\S+) failed \(/.exec(body)?.[1];
  const containerId = /\b([0-9a-f]{64})\b/.exec(body)?.[1];
  const time = /time="([^"]+)"/.exec(body)?.[1];
  if (target === undefined || containerId === undefined || time === undefined) throw new Error(`not a runtime failure text: ${body.slice(0, 120)}`);
  return { target, containerId, time };
}
