// A private apt configuration inside the cache: it reads Debian's package lists for another
// suite and downloads .deb files without touching the host's own apt state or installing
// anything into the host.
import * as fs from 'fs';
import * as path from 'path';
import { exec } from './exec';

/** The suites the guest kernels come from. The first holds the newest kernels. */
export const APT_SOURCES = [
  'deb http://deb.debian.org/debian trixie-backports main',
  'deb http://deb.debian.org/debian trixie main',
];

export class PrivateApt {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = path.join(cacheDir, 'apt');
  }

  private get listsDir(): string { return path.join(this.dir, 'lists'); }
  private get sourcesFile(): string { return path.join(this.dir, 'sources.list'); }

  /** The -o options that point apt at this private state instead of the host's. */
  private options(): string[] {
    return [
      `-oDir::State::Lists=${this.listsDir}`,
      `-oDir::Cache=${path.join(this.dir, 'cache')}`,
      `-oDir::Etc::SourceList=${this.sourcesFile}`,
      '-oDir::Etc::SourceParts=/dev/null',
      '-oAPT::Sandbox::User=root',
      '-oDebug::NoLocking=1',
    ];
  }

  /** Creates the directories and the sources list (rewritten if the sources changed). */
  prepare(): void {
    for (const d of [path.join(this.listsDir, 'partial'), path.join(this.dir, 'cache', 'archives', 'partial')]) {
      fs.mkdirSync(d, { recursive: true });
    }
    const text = APT_SOURCES.join('\n') + '\n';
    const current = fs.existsSync(this.sourcesFile) ? fs.readFileSync(this.sourcesFile, 'utf8') : '';
    if (current !== text) {
      fs.writeFileSync(this.sourcesFile, text);
      fs.rmSync(this.stampFile(), { force: true });
    }
  }

  private stampFile(): string { return path.join(this.dir, 'lists.updated'); }

  /** Seconds since the last successful `update`, or Infinity. */
  listsAgeSeconds(): number {
    try {
      return (Date.now() - fs.statSync(this.stampFile()).mtimeMs) / 1000;
    } catch {
      return Infinity;
    }
  }

  /** Identifies the current lists (changes with every update). */
  listsStamp(): string {
    try {
      return String(fs.statSync(this.stampFile()).mtimeMs);
    } catch {
      return '';
    }
  }

  /** apt-get update against the private sources. */
  async update(): Promise<void> {
    await exec('apt-get', [...this.options(), '-q', 'update']);
    fs.writeFileSync(this.stampFile(), new Date().toISOString() + '\n');
  }

  /** Names of all packages in the lists that start with `prefix`. */
  async packageNames(prefix: string): Promise<string[]> {
    const r = await exec('apt-cache', [...this.options(), 'pkgnames', prefix]);
    return r.stdout.toString().split('\n').filter(Boolean);
  }

  /** The control stanzas (`apt-cache show`) of a package, one per available version. */
  async show(pkg: string): Promise<Record<string, string>[]> {
    const r = await exec('apt-cache', [...this.options(), 'show', pkg]);
    return parseStanzas(r.stdout.toString());
  }

  /** Downloads `name=version` packages into dir; returns the .deb paths. */
  async download(pkgs: string[], dir: string): Promise<string[]> {
    fs.mkdirSync(dir, { recursive: true });
    await exec('apt-get', [...this.options(), '-q', 'download', ...pkgs], { cwd: dir });
    return fs.readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => path.join(dir, f));
  }
}

/** Parses deb822 control text into one record per stanza (continuation lines joined). */
export function parseStanzas(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const rec: Record<string, string> = {};
    let key = '';
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && key) rec[key] += '\n' + line.trim();
      else {
        const m = /^([^:\s]+):\s*(.*)$/.exec(line);
        if (m) { key = m[1]; rec[key] = m[2]; }
      }
    }
    if (Object.keys(rec).length) out.push(rec);
  }
  return out;
}

/** dpkg -x: unpacks a .deb's files (no maintainer scripts, nothing installed). */
export async function extractDeb(deb: string, dest: string): Promise<void> {
  fs.mkdirSync(dest, { recursive: true });
  await exec('dpkg', ['-x', deb, dest]);
}
