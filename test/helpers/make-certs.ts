import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate from another CA: must not authenticate. */
  readonly strangerCert: string;
  readonly strangerKey: string;
  /** The API server's client certificate for webhooks (CN kube-apiserver, SAN DNS:kube-apiserver.webhook-client), from the CA. */
  readonly apiserverCert: string;
  readonly apiserverKey: string;
  read(file: string): Buffer;
}

/** A throwaway CA with a server cert for 127.0.0.1/localhost and client certs, made with openssl. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'amber-pki-'));
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ca = (name: string) => {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.crt`),
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    );
  };
  const leaf = (name: string, signer: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${name}`);
    ssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p(`${signer}.crt`),
      '-CAkey',
      p(`${signer}.key`),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
    );
  };
  ca('test-ca');
  ca('stranger-ca');
  leaf('server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('falco', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('kube-apiserver', 'test-ca', 'extendedKeyUsage=clientAuth\nsubjectAltName=DNS:kube-apiserver.webhook-client\n');
  return {
    dir,
    caCert: p('test-ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('falco.crt'),
    clientKey: p('falco.key'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
    apiserverCert: p('kube-apiserver.crt'),
    apiserverKey: p('kube-apiserver.key'),
    read: (file) => readFileSync(file),
  };
}
