import { useRef, useState } from 'preact/hooks';
import { api, ApiError, type Match } from './api.js';

const SHOWN = 500;

/** Memory search over a capture's checkpoints: matches stream in as the server finds them; Cancel stops the server's reading. */
export function MemorySearch({ id, pids }: { id: string; pids: number[] }) {
  const [pattern, setPattern] = useState('');
  const [pid, setPid] = useState('');
  const [matches, setMatches] = useState<Match[]>([]);
  const [state, setState] = useState<
    { kind: 'idle' } | { kind: 'running' } | { kind: 'done'; matches: number; warnings: string[] } | { kind: 'cancelled' } | { kind: 'error'; message: string }
  >({
    kind: 'idle',
  });
  const abort = useRef<AbortController | undefined>();

  const run = async (e: Event) => {
    e.preventDefault();
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setMatches([]);
    setState({ kind: 'running' });
    const found: Match[] = [];
    let flush: ReturnType<typeof setTimeout> | undefined;
    try {
      const done = await api.search(id, pattern, pid === '' ? undefined : Number(pid), controller.signal, (m) => {
        if (found.length < SHOWN) found.push(m);
        // many matches a second: the list is redrawn at most every 100 ms
        flush ??= setTimeout(() => {
          flush = undefined;
          setMatches([...found]);
        }, 100);
      });
      clearTimeout(flush);
      setMatches([...found]);
      setState({ kind: 'done', ...done });
    } catch (err) {
      clearTimeout(flush);
      setMatches([...found]);
      if (controller.signal.aborted) setState({ kind: 'cancelled' });
      else setState({ kind: 'error', message: err instanceof ApiError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err) });
    }
  };

  return (
    <section aria-labelledby="search-title" class="panel">
      <h2 id="search-title">Memory search</h2>
      <form class="search" role="search" aria-label="Search the checkpointed memory" onSubmit={(e) => void run(e)}>
        <div class="field">
          <label for="search-pattern">Pattern (text, or /regex/flags)</label>
          <input
            id="search-pattern"
            type="search"
            required
            maxLength={1024}
            value={pattern}
            onInput={(e) => setPattern(e.currentTarget.value)}
            placeholder="stratum+tcp or /AKIA[0-9A-Z]{16}/"
          />
        </div>
        <div class="field">
          <label for="search-pid">Process</label>
          <select id="search-pid" value={pid} onChange={(e) => setPid(e.currentTarget.value)}>
            <option value="">all</option>
            {pids.map((p) => (
              <option value={String(p)}>{p}</option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={state.kind === 'running'}>
          Search
        </button>
        <button type="button" disabled={state.kind !== 'running'} onClick={() => abort.current?.abort()}>
          Cancel search
        </button>
      </form>
      <p role="status" aria-live="polite" class="search-state">
        {state.kind === 'running'
          ? `Searching… ${matches.length} matches so far`
          : state.kind === 'done'
            ? `${state.matches} matches${state.matches > SHOWN ? ` (the first ${SHOWN} shown)` : ''}`
            : state.kind === 'cancelled'
              ? `Cancelled after ${matches.length} matches`
              : state.kind === 'error'
                ? `The search failed: ${state.message}`
                : ''}
      </p>
      {state.kind === 'done' && state.warnings.length > 0 && (
        <ul class="warnings" aria-label="Search warnings">
          {state.warnings.map((w) => (
            <li>{w}</li>
          ))}
        </ul>
      )}
      {matches.length > 0 && (
        <table class="matches">
          <thead>
            <tr>
              <th scope="col">Container</th>
              <th scope="col">PID</th>
              <th scope="col">Address</th>
              <th scope="col">Context</th>
            </tr>
          </thead>
          <tbody>
            {matches.map((m) => (
              <tr>
                <td>{m.container}</td>
                <td>{m.pid}</td>
                <td class="mono">{m.address}</td>
                <td class="mono context">{m.context}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
