import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type CaptureSummary } from './api.js';
import { age, captureHref } from './format.js';

const PHASES = ['Pending', 'Checkpointing', 'Uploading', 'Sealed', 'Failed'] as const;
const PAGE = 25;

interface Filters {
  phase: string;
  namespace: string;
  policy: string;
  indicator: string;
  q: string;
}
const NO_FILTERS: Filters = { phase: '', namespace: '', policy: '', indicator: '', q: '' };

export function Phase({ phase }: { phase: string }) {
  return <span class={`phase phase-${phase.toLowerCase()}`}>{phase}</span>;
}

export function Severities({ capture }: { capture: CaptureSummary }) {
  const r = capture.status.report;
  if (!r) return <span class="muted">—</span>;
  if (r.state !== 'Written') return <span class="muted">{r.state === 'Pending' ? 'report pending' : 'no report'}</span>;
  const s = r.severities;
  const ids = r.indicators ?? [];
  if (ids.length === 0) return <span class="muted">none</span>;
  return (
    <span class="severities" title={ids.join(', ')}>
      {s && s.high > 0 && <span class="sev sev-high">{s.high} high</span>}
      {s && s.medium > 0 && <span class="sev sev-medium">{s.medium} medium</span>}
      {s && s.info > 0 && <span class="sev sev-info">{s.info} info</span>}
      <span class="indicator-ids">{ids.join(', ')}</span>
    </span>
  );
}

/** The captures, newest first: filters, pages, and live changes from /v1/captures/events. */
export function CapturesPage({ onExpired }: { onExpired: () => void }) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  // the ids the pages start before: [] is the first page
  const [pages, setPages] = useState<string[]>([]);
  const [rows, setRows] = useState<CaptureSummary[] | undefined>();
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [live, setLive] = useState(false);
  const [, setTick] = useState(0);
  const before = pages[pages.length - 1];
  const query = useRef({ filters, before });
  query.current = { filters, before };

  const load = useCallback(async () => {
    const { filters: f, before: b } = query.current;
    try {
      const answer = await api.captures({ ...f, limit: String(PAGE), before: b });
      setRows(answer.captures);
      setMore(answer.more);
      setError(undefined);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) onExpired();
      else setError(e instanceof Error ? e.message : String(e));
    }
  }, [onExpired]);

  useEffect(() => void load(), [filters, before, load]);

  useEffect(() => {
    let refetch: ReturnType<typeof setTimeout> | undefined;
    const close = api.events(
      (c) => {
        setRows((current) => {
          if (current?.some((r) => r.id === c.id)) return current.map((r) => (r.id === c.id ? c : r));
          // a capture this page does not show: the first page may now hold it
          if (query.current.before === undefined) {
            clearTimeout(refetch);
            refetch = setTimeout(() => void load(), 200);
          }
          return current;
        });
      },
      (open) => {
        setLive(open);
        // what changed while the stream was closed is read again
        if (open) void load();
      },
    );
    const tick = setInterval(() => setTick((n) => n + 1), 15_000);
    return () => {
      close();
      clearInterval(tick);
      clearTimeout(refetch);
    };
  }, [load]);

  const field = (name: keyof Filters, label: string, placeholder: string) => (
    <div class="field">
      <label for={`filter-${name}`}>{label}</label>
      <input
        id={`filter-${name}`}
        type="search"
        value={draft[name]}
        placeholder={placeholder}
        onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })}
      />
    </div>
  );

  return (
    <section aria-labelledby="captures-title">
      <div class="title-row">
        <h1 id="captures-title">Captures</h1>
        <span class={live ? 'live on' : 'live off'} role="status" aria-live="polite">
          {live ? 'live' : 'not live: reconnecting'}
        </span>
      </div>
      <form
        class="filters"
        role="search"
        aria-label="Filter captures"
        onSubmit={(e) => {
          e.preventDefault();
          setPages([]);
          setFilters(draft);
        }}
      >
        <div class="field">
          <label for="filter-phase">Phase</label>
          <select id="filter-phase" value={draft.phase} onChange={(e) => setDraft({ ...draft, phase: e.currentTarget.value })}>
            <option value="">any</option>
            {PHASES.map((p) => (
              <option value={p}>{p}</option>
            ))}
          </select>
        </div>
        {field('namespace', 'Namespace', 'prod')}
        {field('policy', 'Policy', 'shell-in-container')}
        {field('indicator', 'Indicator', 'reverse-shell')}
        {field('q', 'Text', 'pod, rule, user…')}
        <button type="submit">Apply filters</button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
            setPages([]);
          }}
        >
          Clear
        </button>
      </form>
      {error !== undefined && (
        <p role="alert" class="error">
          Could not list the captures: {error}
        </p>
      )}
      {rows === undefined ? (
        <p class="loading">Loading…</p>
      ) : rows.length === 0 ? (
        <p>No captures{filters === NO_FILTERS ? ' yet' : ' match these filters'}.</p>
      ) : (
        <table class="captures">
          <caption class="visually-hidden">Captures, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Phase</th>
              <th scope="col">Target</th>
              <th scope="col">Rule</th>
              <th scope="col">Policy</th>
              <th scope="col">Indicators</th>
              <th scope="col">Age</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => {
              const t = c.spec.target;
              return (
                <tr key={c.id} data-capture={c.id}>
                  <td>
                    <Phase phase={c.status.phase} />
                  </td>
                  <td>
                    <a href={captureHref(c.id)}>
                      {t.namespace}/{t.pod}
                      {t.container !== undefined ? `/${t.container}` : ''}
                    </a>
                  </td>
                  <td>{c.spec.trigger.rule}</td>
                  <td>{c.spec.trigger.policy}</td>
                  <td>
                    <Severities capture={c} />
                  </td>
                  <td>
                    <time dateTime={c.createdAt} title={c.createdAt}>
                      {age(c.createdAt)}
                    </time>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={pages.length === 0} onClick={() => setPages(pages.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!more || rows === undefined} onClick={() => rows && rows.length > 0 && setPages([...pages, rows[rows.length - 1]!.id])}>
          Older
        </button>
      </nav>
    </section>
  );
}
