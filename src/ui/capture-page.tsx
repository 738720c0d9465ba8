import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Capture, type CaptureSummary, type PolicySummary, type Report, type SecretRef } from './api.js';
import { Phase } from './captures-page.js';
import { CustodyTimeline, RestoreCommands, VerificationPanel } from './proof-panels.js';
import { MemorySearch } from './memory-search.js';
import { ReportView } from './report-view.js';
import { time } from './format.js';

const PHASES = ['Pending', 'Checkpointing', 'Uploading', 'Sealed'] as const;

function Timeline({ c }: { c: CaptureSummary }) {
  const s = c.status;
  const phases = s.phase === 'Failed' ? [...PHASES.filter((p) => s.phaseTimes[p] !== undefined), 'Failed'] : PHASES;
  return (
    <section aria-labelledby="timeline-title" class="panel">
      <h2 id="timeline-title">Status</h2>
      <ol class="timeline">
        {phases.map((p) => (
          <li class={s.phaseTimes[p] !== undefined ? 'reached' : 'ahead'} aria-current={s.phase === p ? 'step' : undefined}>
            <Phase phase={p} /> <time dateTime={s.phaseTimes[p]}>{time(s.phaseTimes[p])}</time>
          </li>
        ))}
      </ol>
      <p>
        Attempts: {s.attempts}
        {s.retryAt !== undefined ? ` · next try ${time(s.retryAt)}` : ''}
      </p>
      {(s.reason !== undefined || s.message !== undefined) && (
        <p class={s.phase === 'Failed' ? 'error' : 'muted'}>
          {s.reason ?? ''}
          {s.message !== undefined ? `: ${s.message}` : ''}
        </p>
      )}
      {s.report && (
        <p>
          Triage report: {s.report.state}
          {s.report.message !== undefined ? ` (${s.report.message})` : ''}
        </p>
      )}
    </section>
  );
}

/** Why a policy matched: its description and its match conditions as this server runs them now. */
function PolicyWhy({ name }: { name: string }) {
  const [policy, setPolicy] = useState<PolicySummary | null | undefined>();
  useEffect(() => {
    api.policies().then(
      (r) => setPolicy(r.policies.find((p) => p.name === name) ?? null),
      () => setPolicy(null),
    );
  }, [name]);
  return (
    <>
      <span class="mono">{name}</span>
      {policy === null && <span class="muted"> (not in this server's policy set now)</span>}
      {policy && (
        <>
          {' '}
          — {policy.description}
          <details>
            <summary>Its conditions (all held), as loaded now from {policy.file}</summary>
            <pre>{JSON.stringify(policy.match, null, 2)}</pre>
          </details>
        </>
      )}
    </>
  );
}

function Trigger({ c }: { c: Capture }) {
  const t = c.spec.trigger;
  return (
    <section aria-labelledby="trigger-title" class="panel">
      <h2 id="trigger-title">Trigger</h2>
      <dl class="facts">
        <dt>Source</dt>
        <dd>{t.source}</dd>
        <dt>Rule</dt>
        <dd>{t.rule}</dd>
        {t.priority !== undefined && (
          <>
            <dt>Priority</dt>
            <dd>{t.priority}</dd>
          </>
        )}
        <dt>Alert time</dt>
        <dd>{time(t.time)}</dd>
        <dt>Matched policy</dt>
        <dd>
          <PolicyWhy name={t.policy} />
        </dd>
        {(c.joined ?? []).map((j) => (
          <>
            <dt>Also matched</dt>
            <dd>
              <PolicyWhy name={j.trigger.policy} /> (its signal joined at {time(j.at)}, while {j.phase})
            </dd>
          </>
        ))}
        <dt>Evidence kept</dt>
        <dd>
          {c.spec.evidence.retentionDays} days, lock {c.spec.evidence.lock}
          {c.spec.evidence.encryption ? `, encrypted to ${c.spec.evidence.encryption.recipients.length} recipients` : ''}
        </dd>
        {t.asserted?.user !== undefined && (
          <>
            <dt>User (as asserted)</dt>
            <dd>{t.asserted.user}</dd>
          </>
        )}
        {t.asserted?.command !== undefined && (
          <>
            <dt>Command (as asserted)</dt>
            <dd class="mono">{t.asserted.command}</dd>
          </>
        )}
        <dt>Signal digest</dt>
        <dd class="mono hash">{t.signalDigest}</dd>
      </dl>
      <h3>The alert as received</h3>
      {c.signals.map((s, i) => (
        <pre class="signal" aria-label={`signal ${i + 1}`}>
          {typeof s === 'string' ? s : JSON.stringify(s, null, 2)}
        </pre>
      ))}
    </section>
  );
}

/** One capture: status, trigger, report, custody, verification, memory search and download. */
export function CapturePage({ id, onExpired }: { id: string; onExpired: () => void }) {
  const [capture, setCapture] = useState<Capture | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [report, setReport] = useState<{ report: Report; masked: SecretRef[] } | { error: string } | undefined>();
  const fail = useCallback(
    (e: unknown) => {
      if (e instanceof ApiError && e.status === 401) onExpired();
      else setError(e instanceof Error ? e.message : String(e));
    },
    [onExpired],
  );

  useEffect(() => {
    api.capture(id).then(setCapture, fail);
    // the capture as it moves on: phases, attempts, the report
    return api.events(
      (c) => {
        if (c.id === id) setCapture((old) => (old ? { ...old, ...c } : old));
      },
      () => undefined,
    );
  }, [id, fail]);

  const sealed = capture?.status.phase === 'Sealed';
  const reportState = capture?.status.report?.state;
  useEffect(() => {
    if (!sealed || reportState === 'Pending') return;
    api
      .report(id)
      .then(setReport, (e: unknown) =>
        e instanceof ApiError && e.status === 401 ? onExpired() : setReport({ error: e instanceof Error ? e.message : String(e) }),
      );
  }, [id, sealed, reportState, onExpired]);

  if (error !== undefined)
    return (
      <p role="alert" class="error">
        Could not read capture {id}: {error}
      </p>
    );
  if (!capture) return <p class="loading">Loading…</p>;
  const t = capture.spec.target;
  const pids = report && 'report' in report ? [...new Set(report.report.checkpoints.flatMap((c) => c.processes.map((p) => p.pid)))].sort((a, b) => a - b) : [];
  return (
    <article aria-labelledby="capture-title" class="capture">
      <p>
        <a href="#/">← All captures</a>
      </p>
      <h1 id="capture-title">
        <Phase phase={capture.status.phase} />{' '}
        <span class="mono">
          {t.namespace}/{t.pod}
          {t.container !== undefined ? `/${t.container}` : ''}
        </span>
      </h1>
      <p class="muted mono">
        {capture.id} · created {time(capture.createdAt)}
        {t.node !== undefined ? ` · node ${t.node}` : ''}
        {capture.status.bundle ? ` · ${capture.status.bundle.uri}` : ''}
      </p>
      <div class="columns">
        <Timeline c={capture} />
        <Trigger c={capture} />
      </div>
      {sealed && (
        <>
          <VerificationPanel id={id} onExpired={onExpired} />
          <RestoreCommands capture={capture} onExpired={onExpired} />
        </>
      )}
      {report === undefined ? (
        sealed && <p class="loading">Reading the triage report…</p>
      ) : 'report' in report ? (
        <ReportView id={id} report={report.report} masked={report.masked} />
      ) : (
        <section class="panel" aria-labelledby="report-title">
          <h2 id="report-title">Triage report</h2>
          <p class="error">{report.error}</p>
        </section>
      )}
      {sealed && <MemorySearch id={id} pids={pids} />}
      <CustodyTimeline entries={capture.status.custody ?? []} />
    </article>
  );
}
