import { useState } from 'preact/hooks';
import { api, type Indicator, type Report, type ReportCheckpoint, type ReportProcess, type SecretRef } from './api.js';
import { bytes } from './format.js';

type Reveal = (ref: SecretRef) => Promise<void>;

function MaskedValue({
  text,
  ref_,
  revealed,
  reveal,
  label,
}: {
  text: string;
  ref_: SecretRef | undefined;
  revealed: string | undefined;
  reveal: Reveal;
  label: string;
}) {
  const [busy, setBusy] = useState(false);
  if (!ref_) return <span class="mono">{text}</span>;
  if (revealed !== undefined) return <span class="mono revealed">{revealed}</span>;
  return (
    <span class="mono masked">
      {text}{' '}
      <button
        type="button"
        class="small"
        aria-label={`Reveal ${label}`}
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void reveal(ref_).finally(() => setBusy(false));
        }}
      >
        Reveal
      </button>
    </span>
  );
}

const key = (r: SecretRef) => `${r.checkpoint}/${r.pid}/${r.field}/${r.index}`;

function ProcessNode(props: {
  p: ReportProcess;
  children: Map<number, ReportProcess[]>;
  checkpoint: number;
  masked: Map<string, SecretRef>;
  revealed: Map<string, string>;
  reveal: Reveal;
}) {
  const { p, checkpoint, masked, revealed, reveal } = props;
  const kids = props.children.get(p.pid) ?? [];
  const at = (field: 'env' | 'cmdline', index: number) => masked.get(key({ checkpoint, pid: p.pid, field, index }));
  const shown = (field: 'env' | 'cmdline', index: number) => revealed.get(key({ checkpoint, pid: p.pid, field, index }));
  return (
    <li data-pid={p.pid}>
      <details open>
        <summary>
          <span class="pid">{p.pid}</span> <span class="comm">{p.comm}</span>{' '}
          <span class="mono cmdline" aria-label={`command line of ${p.pid}`}>
            {p.cmdline.map((arg, i) => (at('cmdline', i) ? (shown('cmdline', i) ?? arg) : arg)).join(' ')}
          </span>
        </summary>
        <dl class="process">
          {p.exe !== undefined && (
            <>
              <dt>Executable</dt>
              <dd class="mono">{p.exe}</dd>
            </>
          )}
          {p.uid !== undefined && (
            <>
              <dt>UID</dt>
              <dd>{p.uid}</dd>
            </>
          )}
          {p.cwd !== undefined && (
            <>
              <dt>Working directory</dt>
              <dd class="mono">{p.cwd}</dd>
            </>
          )}
          {p.cmdline.some((_a, i) => at('cmdline', i)) && (
            <>
              <dt>Masked arguments</dt>
              <dd>
                <ul class="plain">
                  {p.cmdline.map((arg, i) =>
                    at('cmdline', i) ? (
                      <li>
                        <MaskedValue
                          text={arg}
                          ref_={at('cmdline', i)}
                          revealed={shown('cmdline', i)}
                          reveal={reveal}
                          label={`argument ${i} of process ${p.pid}`}
                        />
                      </li>
                    ) : null,
                  )}
                </ul>
              </dd>
            </>
          )}
          <dt>Environment ({p.env.length})</dt>
          <dd>
            <ul class="plain env">
              {p.env.map((entry, i) => (
                <li>
                  <MaskedValue
                    text={entry}
                    ref_={at('env', i)}
                    revealed={shown('env', i)}
                    reveal={reveal}
                    label={`${entry.split('=')[0] ?? ''} of process ${p.pid}`}
                  />
                </li>
              ))}
            </ul>
          </dd>
          {p.sockets.length > 0 && (
            <>
              <dt>Sockets</dt>
              <dd>
                <ul class="plain">
                  {p.sockets.map((s) => (
                    <li class="mono">
                      fd {s.fd} {s.family ?? s.kind} {s.protocol ?? ''} {s.state ?? ''} {s.local ?? s.path ?? ''}
                      {s.remote !== undefined ? ` → ${s.remote}` : ''}
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}
          {p.files.length > 0 && (
            <>
              <dt>Open files</dt>
              <dd>
                <ul class="plain">
                  {p.files.map((f) => (
                    <li class="mono">
                      fd {f.fd} {f.kind} {f.path ?? ''}
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}
        </dl>
        {kids.length > 0 && (
          <ul class="tree">
            {kids.map((k) => (
              <ProcessNode {...props} p={k} />
            ))}
          </ul>
        )}
      </details>
    </li>
  );
}

function IndicatorList({ indicators }: { indicators: Indicator[] }) {
  if (indicators.length === 0) return <p>No indicators.</p>;
  return (
    <ul class="indicators">
      {indicators.map((i) => (
        <li class={`indicator sev-${i.severity}`}>
          <span class={`sev sev-${i.severity}`}>{i.severity}</span> <strong class="mono">{i.id}</strong> {i.summary}
          {i.pid !== undefined ? ` (pid ${i.pid})` : ''}
          {i.path !== undefined ? <span class="mono"> {i.path}</span> : null}
          {i.evidence !== undefined && (
            <details class="evidence">
              <summary>Evidence</summary>
              <pre>{JSON.stringify(i.evidence, null, 2)}</pre>
            </details>
          )}
        </li>
      ))}
    </ul>
  );
}

function Checkpoint({
  c,
  index,
  masked,
  revealed,
  reveal,
}: {
  c: ReportCheckpoint;
  index: number;
  masked: Map<string, SecretRef>;
  revealed: Map<string, string>;
  reveal: Reveal;
}) {
  const pids = new Set(c.processes.map((p) => p.pid));
  const children = new Map<number, ReportProcess[]>();
  const roots: ReportProcess[] = [];
  for (const p of c.processes) {
    if (pids.has(p.ppid) && p.ppid !== p.pid) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
    else roots.push(p);
  }
  const prefix = `checkpoint-${index}`;
  return (
    <article class="checkpoint" aria-labelledby={`${prefix}-title`}>
      <h3 id={`${prefix}-title`}>
        Container <span class="mono">{c.archive.container}</span>
      </h3>
      <p class="muted mono">
        {c.archive.name} · {bytes(c.archive.size)} · sha256 {c.archive.sha256}
      </p>
      <h4>Indicators</h4>
      <IndicatorList indicators={c.indicators} />
      <h4>Process tree</h4>
      <ul class="tree" aria-label={`processes of ${c.archive.container}`}>
        {roots.map((p) => (
          <ProcessNode p={p} children={children} checkpoint={index} masked={masked} revealed={revealed} reveal={reveal} />
        ))}
      </ul>
      <h4>Filesystem changes</h4>
      {c.rootfsDiff.added.length === 0 && c.rootfsDiff.deleted.length === 0 ? (
        <p>No files added, changed or deleted.</p>
      ) : (
        <table class="files">
          <thead>
            <tr>
              <th scope="col">Change</th>
              <th scope="col">Path</th>
              <th scope="col">Type</th>
              <th scope="col">Size</th>
              <th scope="col">Mode</th>
              <th scope="col">SHA-256</th>
            </tr>
          </thead>
          <tbody>
            {c.rootfsDiff.added.map((f) => (
              <tr>
                <td>{f.executable ? 'added (executable)' : 'added or changed'}</td>
                <td class="mono">
                  {f.path}
                  {f.linkTarget !== undefined ? ` → ${f.linkTarget}` : ''}
                </td>
                <td>{f.type}</td>
                <td>{bytes(f.size)}</td>
                <td class="mono">{f.mode}</td>
                <td class="mono hash">{f.sha256 ?? '—'}</td>
              </tr>
            ))}
            {c.rootfsDiff.deleted.map((path) => (
              <tr>
                <td>deleted</td>
                <td class="mono">{path}</td>
                <td colSpan={4}></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {c.warnings.length > 0 && (
        <>
          <h4>Warnings</h4>
          <ul class="warnings">
            {c.warnings.map((w) => (
              <li>
                <span class="mono">{w.file}</span>: {w.message}
              </li>
            ))}
          </ul>
        </>
      )}
    </article>
  );
}

/** The triage report: per checkpoint, indicators with their evidence, the process tree, sockets and files, and the filesystem diff. */
export function ReportView({ id, report, masked }: { id: string; report: Report; masked: SecretRef[] }) {
  const [revealed, setRevealed] = useState(new Map<string, string>());
  const [error, setError] = useState<string | undefined>();
  const places = new Map(masked.map((r) => [key(r), r]));
  const reveal: Reveal = async (ref) => {
    try {
      const { value } = await api.reveal(id, ref);
      setRevealed((m) => new Map(m).set(key(ref), value));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section aria-labelledby="report-title" class="panel">
      <h2 id="report-title">Triage report</h2>
      <p class="muted">Made {report.generatedAt}. Values that look like secrets are masked; revealing one is logged with your name.</p>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {report.checkpoints.map((c, i) => (
        <Checkpoint c={c} index={i} masked={places} revealed={revealed} reveal={reveal} />
      ))}
    </section>
  );
}
