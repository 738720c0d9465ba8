import { UsageError } from '../cli-support.js';

export const RESTORE_HELP = `Usage:
  amber restore TARGET [--container NAME] (--oci-layout DIR | --image REF [--namespace NS] | --podman)…
      Restores a sealed capture as often as needed, never near the original: verifies the bundle
      first (one that does not verify is refused before anything is built), turns the archive
      into a checkpoint image whose one layer is the sealed archive byte for byte (its digest is
      the manifest's sha256), writes it as an OCI layout and/or pushes it to a registry, and
      creates a quarantined sandbox pod from it, or restores it in a local Podman. Every restore
      is written beside the bundle as a signed restore record (restore-<n>.json + .jws) that
      continues the custody chain; 'amber verify' checks them.
      Exit 0 restored (or written), 1 refused, 2 could not run.

  TARGET                   a bundle directory, its file:// URI, or s3://bucket/…/<capture-id>
                           (as for verify); with --unsealed, a bare checkpoint archive
  --container NAME         which container's archive, when the capture holds several
  --jwks FILE|URL          the public keys to verify with (repeatable; default
                           <data-dir>/signing/jwks.json)
  --identity FILE          an age identity: for a capture whose archive is stored encrypted
  --config FILE            settings YAML (S3 endpoint and credentials, as for verify)
  --data-dir DIR           AMBER_DATA_DIR, default ./.amber: the default JWKS and signing key
  --signing-key FILE       the key that signs the restore record (JWK or PKCS#8 PEM, Ed25519 or
                           P-256); default <data-dir>/signing (made when absent). Publish its
                           jwks.json to whoever verifies the bundle after you.
  --restored-by NAME       who restores, for the record (default the operating-system user)
  --unsealed               TARGET is a bare archive: no verification, no restore record

 The image:
  --oci-layout DIR         write the checkpoint image as an OCI image layout (no registry)
  --tag TAG                its tag in the layout or registry (default restore-<capture id>)
  --arch ARCH              the image's architecture (default: the archive's, else amd64)
  --image REF              push it: host[:port]/repository[:tag] through the OCI distribution API
  --registry-user USER     basic or token auth; the password from AMBER_REGISTRY_PASSWORD or
  --registry-password-file FILE
  --registry-ca FILE       a CA bundle the registry's certificate is checked against
  --insecure-registry      plain HTTP (a test registry on loopback)

 The sandbox (with --image):
  --namespace NS           create a Pod running the image in NS, with a NetworkPolicy denying all
                           its ingress and egress, no service-account token, no host namespaces,
                           labelled and annotated with the capture; never in the original's
                           namespace (unless --allow-same-namespace)
  --kubeconfig FILE        the cluster (default $KUBECONFIG, ~/.kube/config, in-cluster)
  --node NODE              run it on this node
  --runtime-class NAME     e.g. gvisor, kata
  --tolerate T             key=value:Effect, key:Effect or key:Exists (repeatable)
  --node-selector K=V      (repeatable): a forensic node pool
  --capture-namespace NS   where amber's Capture resources are (default amber-system): the
                           Capture's status lists the restore (best-effort)
  --dry-run                print the objects instead of creating them (and write no record)

 Local:
  --podman                 podman container restore --import, in an empty network namespace
                           (only archives Podman exported)
`;

export const RESTORE_FLAGS = {
  container: { type: 'string' },
  jwks: { type: 'string', multiple: true },
  identity: { type: 'string' },
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'signing-key': { type: 'string' },
  'restored-by': { type: 'string' },
  unsealed: { type: 'boolean' },
  'oci-layout': { type: 'string' },
  tag: { type: 'string' },
  arch: { type: 'string' },
  image: { type: 'string' },
  'registry-user': { type: 'string' },
  'registry-password-file': { type: 'string' },
  'registry-ca': { type: 'string' },
  'insecure-registry': { type: 'boolean' },
  namespace: { type: 'string' },
  kubeconfig: { type: 'string' },
  node: { type: 'string' },
  'runtime-class': { type: 'string' },
  tolerate: { type: 'string', multiple: true },
  'node-selector': { type: 'string', multiple: true },
  'capture-namespace': { type: 'string' },
  'allow-same-namespace': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  podman: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = {
  [K in keyof typeof RESTORE_FLAGS]?: (typeof RESTORE_FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof RESTORE_FLAGS)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/** What the analyst asked for, checked for combinations that cannot work before anything is read. */
export interface RestoreRequest {
  readonly ociLayout?: { readonly dir: string };
  readonly tag?: string | undefined;
  readonly arch?: string | undefined;
  readonly image?: {
    readonly ref: string;
    readonly user?: string | undefined;
    readonly passwordFile?: string | undefined;
    readonly password?: string | undefined;
    readonly caFile?: string | undefined;
    readonly insecure: boolean;
  };
  readonly sandbox?: {
    readonly namespace: string;
    readonly kubeconfig?: string | undefined;
    readonly node?: string | undefined;
    readonly runtimeClass?: string | undefined;
    readonly tolerations: readonly string[];
    readonly nodeSelector: readonly string[];
    /** Where amber's Capture resources are, for the status listing; undefined: no Capture to list it on (`serve`). */
    readonly captureNamespace: string | undefined;
    readonly allowSameNamespace: boolean;
  };
  readonly podman: boolean;
  readonly dryRun: boolean;
}

export function restoreRequest(values: Values, env: Readonly<Record<string, string | undefined>>): RestoreRequest {
  if (values.namespace !== undefined && values.image === undefined)
    throw new UsageError('--namespace needs --image: the sandbox pod pulls the image from a registry');
  if (values['dry-run'] && values.namespace === undefined) throw new UsageError('--dry-run prints the sandbox objects: it needs --namespace');
  for (const f of ['node', 'runtime-class', 'tolerate', 'node-selector', 'capture-namespace', 'kubeconfig', 'allow-same-namespace'] as const) {
    if (values[f] !== undefined && values.namespace === undefined) throw new UsageError(`--${f} is for the sandbox: it needs --namespace`);
  }
  if (values['oci-layout'] === undefined && values.image === undefined && !values.podman) {
    throw new UsageError('say where to restore: --oci-layout DIR, --image REF (with --namespace NS for a sandbox) or --podman');
  }
  for (const f of ['registry-user', 'registry-password-file', 'registry-ca', 'insecure-registry'] as const) {
    if (values[f] !== undefined && values.image === undefined) throw new UsageError(`--${f} is for the push: it needs --image`);
  }
  if (values.unsealed && (values.jwks !== undefined || values['signing-key'] !== undefined)) {
    throw new UsageError('--unsealed restores a bare archive: there is nothing to verify (--jwks) and no record to sign (--signing-key)');
  }
  const password = env['AMBER_REGISTRY_PASSWORD'];
  return {
    ...(values['oci-layout'] !== undefined ? { ociLayout: { dir: values['oci-layout'] } } : {}),
    tag: values.tag,
    arch: values.arch,
    ...(values.image !== undefined
      ? {
          image: {
            ref: values.image,
            user: values['registry-user'],
            passwordFile: values['registry-password-file'],
            password: password === '' ? undefined : password,
            caFile: values['registry-ca'],
            insecure: values['insecure-registry'] === true,
          },
        }
      : {}),
    ...(values.namespace !== undefined
      ? {
          sandbox: {
            namespace: values.namespace,
            kubeconfig: values.kubeconfig,
            node: values.node,
            runtimeClass: values['runtime-class'],
            tolerations: values.tolerate ?? [],
            nodeSelector: values['node-selector'] ?? [],
            captureNamespace: values['capture-namespace'] ?? 'amber-system',
            allowSameNamespace: values['allow-same-namespace'] === true,
          },
        }
      : {}),
    podman: values.podman === true,
    dryRun: values['dry-run'] === true,
  };
}
