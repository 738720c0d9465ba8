import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { hashFile } from '../../src/core/hash-stream.js';
import { checkpointImage, type CheckpointImageInput } from '../../src/restore/checkpoint-image.js';
import { writeOciLayout } from '../../src/restore/oci-layout.js';
import { rejected } from '../helpers/amber-errors.js';
import { REAL_DIR } from '../helpers/real-checkpoints.js';

const CRIO = join(REAL_DIR, 'checkpoint-amber-pod_default-shell-2026-12-06T19:11:17Z.tar');

async function input(): Promise<CheckpointImageInput> {
  const { sha256, size } = await hashFile(CRIO);
  return {
    archive: { sha256, size, compression: 'none' },
    container: 'shell',
    pod: { name: 'amber-pod', namespace: 'default', uid: 'uid-1' },
    engine: 'cri-o',
    rootfsImage: { name: 'docker.io/library/busybox:latest' },
    architecture: 'amd64',
    capture: { id: 'c-01', bundleUri: 'file:///evidence/c-01', manifestSha256: 'b'.repeat(64) },
    created: '2026-12-07T08:00:00.000Z',
  };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-oci-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8' });

t.test('the checkpoint image is the same for the same input, and its layer is the archive itself', async (t) => {
  const a = checkpointImage(await input());
  const b = checkpointImage(await input());
  t.equal(a.manifest.descriptor.digest, b.manifest.descriptor.digest);
  t.equal(a.layer.digest, `sha256:${(await hashFile(CRIO)).sha256}`);
  t.equal(a.layer.mediaType, 'application/vnd.oci.image.layer.v1.tar', 'uncompressed: the layer is the archive byte for byte');
  t.equal(a.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'shell');
  t.equal(a.annotations['org.criu.checkpoint.container.name'], 'shell');
  const other = checkpointImage({ ...(await input()), container: 'other' });
  t.not(other.manifest.descriptor.digest, a.manifest.descriptor.digest);
});

t.test('an OCI layout skopeo and umoci read: the layer digest is the archive sha256, the annotations are there', async (t) => {
  const dir = join(await tempDir(t), 'layout');
  const image = checkpointImage(await input());
  await writeOciLayout(dir, image, async () => createReadStream(CRIO), 'restore-c-01');
  const raw = JSON.parse(skopeo('inspect', '--raw', `oci:${dir}:restore-c-01`)) as {
    layers: { digest: string; mediaType: string }[];
    annotations: Record<string, string>;
  };
  t.equal(raw.layers.length, 1);
  t.equal(raw.layers[0]?.digest, `sha256:${(await hashFile(CRIO)).sha256}`);
  t.equal(raw.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'shell');
  t.equal(raw.annotations['forensics.amber.dev/capture-id'], 'c-01');
  const config = JSON.parse(skopeo('inspect', '--config', `oci:${dir}:restore-c-01`)) as { architecture: string; os: string; rootfs: { diff_ids: string[] } };
  t.same(config.rootfs.diff_ids, [raw.layers[0]?.digest], 'uncompressed: diff_id = digest');
  t.equal(config.architecture, 'amd64');
  const inspected = JSON.parse(skopeo('inspect', `oci:${dir}:restore-c-01`)) as { Digest: string };
  t.equal(inspected.Digest, image.manifest.descriptor.digest, 'skopeo computes the digest we indexed');
  // umoci unpacks it: the archive's files are at / of the image
  const bundle = join(dir, '..', 'unpacked');
  execFileSync('umoci', ['raw', 'unpack', '--rootless', '--image', `${dir}:restore-c-01`, bundle], { stdio: 'pipe' });
  const top = await readdir(bundle);
  t.ok(top.includes('checkpoint') && top.includes('config.dump') && top.includes('spec.dump'), `the archive's members at /: ${top.join(' ')}`);
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
  t.equal(index.manifests[0]?.annotations['org.criu.checkpoint.container.name'], 'shell', 'containerd reads it from the index entry');
});

t.test('a second image joins the layout beside the first; a tag naming another image is refused', async (t) => {
  const dir = join(await tempDir(t), 'layout');
  const first = checkpointImage(await input());
  await writeOciLayout(dir, first, async () => createReadStream(CRIO), 'restore-1');
  const second = checkpointImage({ ...(await input()), created: '2026-12-07T09:00:00.000Z' });
  await writeOciLayout(dir, second, async () => createReadStream(CRIO), 'restore-2');
  t.equal(JSON.parse(skopeo('inspect', `oci:${dir}:restore-1`)).Digest, first.manifest.descriptor.digest);
  t.equal(JSON.parse(skopeo('inspect', `oci:${dir}:restore-2`)).Digest, second.manifest.descriptor.digest);
  const e = await rejected(writeOciLayout(dir, second, async () => createReadStream(CRIO), 'restore-1'));
  t.equal(e.code, 'RESTORE_REFUSED');
  t.match(String(e.details['problem']), /the tag restore-1 already names another image/);
});

t.test('a tampered archive never becomes an image: no blob, no index entry', async (t) => {
  const dir = join(await tempDir(t), 'layout');
  const image = checkpointImage(await input());
  const bytes = await readFile(CRIO);
  const at = bytes.length >> 1;
  bytes[at] = (bytes[at] ?? 0) ^ 1;
  const e = await rejected(writeOciLayout(dir, image, async () => Readable.from([bytes]), 'restore-1'));
  t.equal(e.code, 'RESTORE_ARCHIVE_MISMATCH');
  t.same(await readdir(join(dir, 'blobs', 'sha256')), [], 'nothing left behind');
  await t.rejects(readFile(join(dir, 'index.json')), 'nothing indexed');
});

t.test('a directory that is not an OCI layout is refused, its files untouched', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'notes.txt'), 'mine');
  const e = await rejected(writeOciLayout(dir, checkpointImage(await input()), async () => createReadStream(CRIO), 'x'));
  t.equal(e.code, 'RESTORE_REFUSED');
  t.same(await readdir(dir), ['notes.txt']);
});
