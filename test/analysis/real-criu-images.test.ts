/**
 * Every CRIU image we decode, in every archive real engines wrote with CRIU 4.2
 * (test/fixtures/real-checkpoints), against CRIU's own `crit decode` of the same image: each value we
 * decode must be the one crit printed, and each image we know must decode without a warning.
 * Images we do not decode (cgroup, seccomp, timens, utsns, ipcns-var, pipes-data, tmpfs tarballs)
 * are listed, so that a new kind in a real dump is noticed here.
 */
import t from 'tap';
import { decodeImage } from '../../src/analysis/criu/read-criu-dump.js';
import { agree } from '../helpers/crit-compare.js';
import { critImages, imagesOf, REAL_ARCHIVES, realCrit, realMembers } from '../helpers/real-checkpoints.js';

/** What crit calls each kind (its `magic`), for the kinds we decode. */
const KIND_OF_MAGIC: Record<string, string> = {
  INVENTORY: 'inventory',
  PSTREE: 'pstree',
  CORE: 'core',
  IDS: 'ids',
  MM: 'mm',
  PAGEMAP: 'pagemap',
  FILES: 'files',
  FDINFO: 'fdinfo',
  FS: 'fs',
  STATS: 'stats',
  TCP_STREAM: 'tcp-stream',
  NETNS: 'netns',
  MNTS: 'mountpoints',
};
const NOT_DECODED = new Set(['CGROUP', 'SECCOMP', 'TIMENS', 'UTSNS', 'IPC_VAR', 'PIPES_DATA']);

for (const a of REAL_ARCHIVES) {
  t.test(`${a.file}: every image we decode is what crit decoded`, async (t) => {
    const images = imagesOf(await realMembers(a));
    const decodedKinds = new Set<string>();
    for (const name of critImages(a)) {
      const theirs = realCrit(a, name);
      const kind = KIND_OF_MAGIC[theirs.magic];
      if (!kind) {
        t.ok(NOT_DECODED.has(theirs.magic), `${name}: crit kind ${theirs.magic} is one we knowingly leave undecoded`);
        continue;
      }
      const data = name === 'stats-dump' ? (images.get('stats-dump') ?? (await realMembers(a)).get('stats-dump')) : images.get(name);
      if (!data) {
        t.fail(`${name}: crit decoded it but the archive has no such image`);
        continue;
      }
      const d = decodeImage(name, data);
      t.equal(d.kind, kind, `${name} is classified ${kind}`);
      t.same(d.warnings, [], `${name}: a real image decodes without warnings`);
      t.equal(d.records.length, theirs.entries.length, `${name}: one record per crit entry`);
      const [bad, leaves] = agree(d.records, theirs.entries, kind);
      t.same(bad, [], `${name}: no field differs from crit (${leaves} values compared)`);
      t.ok(leaves > 0, `${name}: something was compared`);
      decodedKinds.add(kind);
    }
    for (const k of ['inventory', 'pstree', 'core', 'ids', 'mm', 'pagemap', 'files', 'fdinfo', 'fs', 'stats', 'mountpoints'])
      t.ok(decodedKinds.has(k), `${k} was compared`);
  });
}
