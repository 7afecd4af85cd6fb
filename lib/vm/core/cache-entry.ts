// A cache entry that can be trusted or repaired: built in a temporary directory, described by
// a manifest of every file (type and size) written last, and renamed into place in one step.
// Reading it back checks the manifest against the tree, so a half-written or damaged entry
// (a killed run, a full disk, a file removed by hand) is found and provisioned again.
import * as fs from 'fs';
import * as path from 'path';

export const MANIFEST = 'manifest.json';

export interface Manifest<T> {
  /** What the entry holds (versions, paths), as its provisioner describes it. */
  info: T;
  /** Relative path → size (regular files) or "-> target" (symlinks). */
  files: Record<string, number | string>;
}

/** Every regular file and symlink under dir (relative paths), with its size or link target. */
export function listTree(dir: string): Record<string, number | string> {
  const files: Record<string, number | string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isSymbolicLink()) files[r] = `-> ${fs.readlinkSync(path.join(dir, r))}`;
      else if (e.isDirectory()) walk(r);
      else if (e.isFile()) files[r] = fs.statSync(path.join(dir, r)).size;
    }
  };
  walk('');
  return files;
}

/** The first difference between the tree and its manifest, or undefined when they agree. */
export function damage(dir: string, files: Record<string, number | string>): string | undefined {
  for (const [rel, want] of Object.entries(files)) {
    const p = path.join(dir, rel);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      return `${rel} is missing`;
    }
    if (typeof want === 'number') {
      if (!st.isFile() || st.size !== want) return `${rel} is ${st.isFile() ? `${st.size} bytes, expected ${want}` : 'not a file'}`;
    } else if (!st.isSymbolicLink() || `-> ${fs.readlinkSync(p)}` !== want) {
      return `${rel} is not the link it was`;
    }
  }
  return undefined;
}

export type EntryState<T> = { state: 'ok'; info: T } | { state: 'absent' } | { state: 'damaged'; reason: string };

/** Reads and checks the entry at dir (tree in dir/root, manifest beside it). */
export function readEntry<T>(dir: string): EntryState<T> {
  let manifest: Manifest<T>;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as Manifest<T>;
  } catch (e) {
    if (!fs.existsSync(dir)) return { state: 'absent' };
    return { state: 'damaged', reason: `${MANIFEST} is unreadable (${(e as Error).message})` };
  }
  const reason = damage(path.join(dir, 'root'), manifest.files);
  return reason ? { state: 'damaged', reason } : { state: 'ok', info: manifest.info };
}

/**
 * Completes an entry built in tmp (its tree in tmp/root): writes the manifest, then replaces
 * dest by tmp with a rename.
 */
export function commitEntry<T>(tmp: string, dest: string, info: T): void {
  const manifest: Manifest<T> = { info, files: listTree(path.join(tmp, 'root')) };
  fs.writeFileSync(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
  const old = `${dest}.old-${process.pid}`;
  if (fs.existsSync(dest)) fs.renameSync(dest, old);
  fs.renameSync(tmp, dest);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Bytes of the regular files of a manifest. */
export const manifestBytes = (files: Record<string, number | string>) =>
  Object.values(files).reduce<number>((n, v) => n + (typeof v === 'number' ? v : 0), 0);
