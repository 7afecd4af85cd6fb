// Downloading .deb files through the private apt configuration, with progress (sizes and
// seconds) and errors that name the step and the file. apt checks every file against the
// signed package lists; files land in the directory given, which the callers make a temporary
// one, so an interrupted download never leaves anything that a later run would trust.
import * as fs from 'fs';
import * as path from 'path';
import { PackageVersion, PrivateApt } from './apt';
import { VmError } from '../core/errors';

type Log = (line: string) => void;

export interface DownloadedDeb extends PackageVersion {
  file: string;
  bytes: number;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** The .deb files apt-get wrote into dir, by file name. */
function debsIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.deb'));
  } catch {
    return [];
  }
}

/**
 * Downloads the packages (exact versions) into dir, logging the total size first, a line every
 * few seconds, and the size and time at the end. `step` names what the download is for.
 */
export async function downloadPackages(apt: PrivateApt, step: string, pkgs: PackageVersion[], dir: string, log: Log): Promise<DownloadedDeb[]> {
  const specs = pkgs.map((p) => `${p.name}=${p.version}`);
  const uris = await apt.uris(specs).catch((e: Error) => {
    throw new VmError('provision', `${step}: cannot resolve the download of ${specs.join(' ')}: ${e.message}`);
  });
  const total = uris.reduce((n, u) => n + u.size, 0);
  log(`${step}: downloading ${pkgs.length} package${pkgs.length === 1 ? '' : 's'} (${mb(total)})…`);
  const started = Date.now();
  const bytesSoFar = () => treeBytes(dir);
  const timer = setInterval(() => log(`${step}: … ${mb(bytesSoFar())} of ${mb(total)}, ${((Date.now() - started) / 1000).toFixed(0)} s`), 5000);
  try {
    await apt.download(specs, dir);
  } catch (e) {
    const have = new Set(debsIn(dir));
    const missing = uris.filter((u) => !have.has(u.file)).map((u) => u.file);
    throw new VmError('provision', `${step}: download failed${missing.length ? ` (not fetched: ${missing.slice(0, 5).join(', ')}`
      + `${missing.length > 5 ? `, and ${missing.length - 5} more` : ''})` : ''}: ${(e as Error).message}\n`
      + 'Offline? A cache filled by an earlier run works without the network; this step has not completed before.');
  } finally {
    clearInterval(timer);
  }
  const out: DownloadedDeb[] = [];
  for (const p of pkgs) {
    // apt lists the files in its own order; a file is named NAME_VERSION_ARCH.deb.
    const u = uris.find((x) => x.file.startsWith(`${p.name}_`));
    if (!u) throw new VmError('provision', `${step}: apt offers no file for ${p.name}=${p.version}`);
    const file = path.join(dir, u.file);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st || st.size !== u.size) {
      throw new VmError('provision', `${step}: ${u.file} is ${st ? `${st.size} bytes, expected ${u.size}` : 'missing after the download'}`);
    }
    out.push({ ...p, file, bytes: st.size });
  }
  log(`${step}: downloaded ${mb(total)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

/** Bytes under dir, files being written included (apt names them as it likes while fetching). */
function treeBytes(dir: string): number {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) => {
      const p = path.join(dir, e.name);
      return n + (e.isDirectory() ? treeBytes(p) : fs.statSync(p, { throwIfNoEntry: false })?.size ?? 0);
    }, 0);
  } catch {
    return 0;
  }
}
