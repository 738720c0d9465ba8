/**
 * The sim's PKI, made with the openssl CLI: one CA that signs the API server's serving cert and
 * one serving cert per kubelet (SANs IP:127.0.0.1 and DNS:localhost, as every listener binds
 * 127.0.0.1). Like kubeadm, the kubelet serving certs and the API server cert share the cluster CA
 * here, so one CA file verifies both listeners.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServingCert {
  cert: string;
  key: string;
}
export interface SimPki {
  caFile: string;
  caCert: string;
  apiServer: ServingCert;
  kubelets: Map<string, ServingCert>;
}

function ssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`sim: openssl ${args[0]} failed: ${e.stderr?.toString() || e.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function makePki(dir: string, nodes: string[]): SimPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (f: string) => join(dir, f);
  ssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=sim-kubernetes-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const leaf = (name: string, cn: string, sans: string[]): ServingCert => {
    writeFileSync(
      p(`${name}.ext`),
      `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`,
    );
    ssl(['req', ...EC, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    ssl([
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
    ]);
    return { cert: readFileSync(p(`${name}.crt`), 'utf8'), key: readFileSync(p(`${name}.key`), 'utf8') };
  };
  const apiServer = leaf('apiserver', 'kube-apiserver', [
    'IP:127.0.0.1',
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
  ]);
  const kubelets = new Map<string, ServingCert>();
  for (const node of nodes) kubelets.set(node, leaf(`kubelet-${node}`, `${node}@sim`, ['IP:127.0.0.1', 'DNS:localhost', `DNS:${node}`]));
  return { caFile: p('ca.crt'), caCert: readFileSync(p('ca.crt'), 'utf8'), apiServer, kubelets };
}
