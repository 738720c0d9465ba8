import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import { AmberError } from '../core/amber-error.js';
import { buildApp, type App, type AppDeps } from './build-app.js';

export interface ServerOptions {
  /** HOST:PORT; port 0 picks a free one. */
  readonly listen: string;
  readonly tls?: {
    readonly cert?: string | undefined;
    readonly key?: string | undefined;
    readonly clientCA?: string | undefined;
    /** Refuse, in the TLS handshake, a client without a certificate `clientCA` verified (the admission listener's mTLS). */
    readonly requireClientCert?: boolean | undefined;
  };
  /**
   * How often the TLS files are read again (default 60 s): cert-manager renews the webhook's
   * certificate in place, and a server that kept the first one would fail every admission call
   * once it expired.
   */
  readonly tlsReloadMs?: number;
}

export interface RunningServer {
  readonly app: App;
  /** `http(s)://host:port` actually bound. */
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>;
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AmberError('CONFIG_INVALID', { setting: 'listen', problem: `'${listen}' is not HOST:PORT` });
  }
  return { host, port };
}

/** Builds the app with TLS when configured, and listens. */
export async function startServer(deps: Omit<AppDeps, 'serverOptions'>, options: ServerOptions): Promise<RunningServer> {
  const { host, port } = splitListen(options.listen);
  const tls = options.tls ?? {};
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new AmberError('CONFIG_INVALID', { setting: 'tls', problem: 'tls.cert and tls.key go together' });
  }
  if (tls.clientCA !== undefined && tls.cert === undefined) {
    throw new AmberError('CONFIG_INVALID', { setting: 'tls.clientCA', problem: 'client certificates need TLS: set tls.cert and tls.key' });
  }
  const https = tls.cert !== undefined && tls.key !== undefined ? await readTls(tls as TlsFiles) : undefined;
  const app = await buildApp({ ...deps, serverOptions: https ? { https } : {} });
  await app.listen({ host, port });
  const address = app.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const reload = https ? watchTls(app, tls as TlsFiles, https, options.tlsReloadMs ?? 60_000) : undefined;
  return {
    app,
    url: `${https ? 'https' : 'http'}://${shownHost}:${bound}`,
    async close() {
      // close() closes the connections that are idle when it starts; keep-alive connections whose
      // request was still in flight become idle later, so keep closing idle ones until done.
      clearInterval(reload);
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
    },
  };
}

type TlsFiles = { readonly cert: string; readonly key: string; readonly clientCA?: string | undefined; readonly requireClientCert?: boolean | undefined };
type TlsMaterial = { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean };

async function readTls(tls: TlsFiles): Promise<TlsMaterial> {
  const read = async (setting: string, file: string) => {
    try {
      return await readFile(file);
    } catch (cause) {
      throw new AmberError('CONFIG_INVALID', { setting, file, problem: 'cannot read the file' }, { cause });
    }
  };
  return {
    cert: await read('tls.cert', tls.cert),
    key: await read('tls.key', tls.key),
    ...(tls.clientCA === undefined
      ? {}
      : // Ask for a certificate; unless one is required, let bearer-token clients in too and the auth hook decides.
        { ca: await read('tls.clientCA', tls.clientCA), requestCert: true, rejectUnauthorized: tls.requireClientCert === true }),
  };
}

/**
 * Polls the TLS files and swaps the server's secure context when they change. Polling, not
 * fs.watch: a mounted Secret is updated by swapping a symlinked directory, which file watches miss.
 * A half-written or mismatched pair is refused and the current certificate kept (logged).
 */
function watchTls(app: App, files: TlsFiles, first: TlsMaterial, everyMs: number): NodeJS.Timeout {
  let current = first;
  let busy = false;
  const same = (a: TlsMaterial, b: TlsMaterial) =>
    a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca));
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readTls(files)
      .then((next) => {
        if (same(current, next)) return;
        // throws on a key that does not match the certificate: the old context stays in place
        (app.server as unknown as HttpsServer).setSecureContext(next);
        current = next;
        app.log.info({ cert: files.cert }, 'TLS certificate reloaded');
      })
      .catch((err: unknown) => app.log.warn({ err, cert: files.cert }, 'TLS files changed but could not be loaded; keeping the current certificate'))
      .finally(() => {
        busy = false;
      });
  }, everyMs);
  timer.unref();
  return timer;
}
