/**
 * A small synchronous ustar writer for the little tarballs inside a dump (CRIU's
 * tmpfs-dev-N.tar.gz.img: directories, symlinks, character devices). POSIX ustar header: name,
 * mode, uid, gid, size, mtime (octal), checksum, typeflag, linkname, "ustar\0" "00", uname, gname,
 * devmajor, devminor; two zero blocks end the archive.
 */
export interface UstarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'char';
  mode: number;
  mtime: number;
  body?: Buffer;
  linkname?: string;
  dev?: [major: number, minor: number];
}

const TYPEFLAG = { file: '0', symlink: '2', char: '3', directory: '5' } as const;

function header(e: UstarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'latin1');
  const oct = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
  if (Buffer.byteLength(e.name) > 100) throw new Error(`sim: tar name too long: ${e.name}`);
  put(e.name, 0, 100);
  oct(e.mode, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
  oct(size, 124, 12);
  oct(Math.floor(e.mtime / 1000), 136, 12);
  put(' '.repeat(8), 148, 8);
  put(TYPEFLAG[e.type], 156, 1);
  put(e.linkname ?? '', 157, 100);
  put('ustar\x0000', 257, 8);
  put('root', 265, 32);
  put('root', 297, 32);
  oct(e.dev?.[0] ?? 0, 329, 8);
  oct(e.dev?.[1] ?? 0, 337, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export function ustar(entries: readonly UstarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.type === 'file' ? (e.body ?? Buffer.alloc(0)) : Buffer.alloc(0);
    parts.push(header(e, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
