/**
 * The evidence browser: a sign-in, the captures list and a capture's page, routed by the URL
 * fragment (#/, #/captures/<id>). Every string shown comes from evidence or alerts and is
 * attacker-controlled: it is only ever rendered as text by Preact (no innerHTML anywhere), and no
 * link is built from it.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, useCsrf, type Session } from './api.js';
import { CapturePage } from './capture-page.js';
import { CapturesPage } from './captures-page.js';

function routeOf(hash: string): { page: 'captures' } | { page: 'capture'; id: string } {
  const m = /^#\/captures\/([^/]+)$/.exec(hash);
  if (m?.[1] !== undefined) {
    try {
      return { page: 'capture', id: decodeURIComponent(m[1]) };
    } catch {
      return { page: 'captures' };
    }
  }
  return { page: 'captures' };
}

function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await api.signIn(token));
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'AUTH_REQUIRED' ? 'That token is not accepted.' : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>amber evidence</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby="sign-in-help">
        <p id="sign-in-help">Sign in with an amber API token (the same bearer token the API takes).</p>
        <label for="token">Access token</label>
        <input id="token" name="token" type="password" autoComplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autoFocus />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error !== undefined && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [route, setRoute] = useState(() => routeOf(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    api.session().then(
      (s) => {
        useCsrf(s.csrf);
        setSession(s);
      },
      () => setSession(null),
    );
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null)
    return (
      <SignIn
        onSignedIn={(s) => {
          useCsrf(s.csrf);
          setSession(s);
        }}
      />
    );
  const signOut = async () => {
    // signing out is best-effort on the server: the page forgets the session either way
    await api.signOut().catch(() => undefined);
    useCsrf('');
    setSession(null);
  };
  const expired = () => setSession(null);
  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          amber evidence
        </a>
        <span class="user" aria-label="Signed in as">
          {session.user}
        </span>
        {session.via === 'session' && (
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        )}
      </header>
      <main>{route.page === 'capture' ? <CapturePage key={route.id} id={route.id} onExpired={expired} /> : <CapturesPage onExpired={expired} />}</main>
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
