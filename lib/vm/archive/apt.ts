// A private apt configuration inside the cache: it reads Debian's package lists for another
// suite and downloads .deb files without touching the host's own apt state or installing
// anything into the host.
import * as fs from 'fs';
import * as path from 'path';
import { exec } from '../core/exec';

/**
 * The suites the emulated host takes its packages from: kernels and QEMU from trixie-backports
 * and trixie, the custom kernel's build tools from bookworm (their libraries are linked by the
 * host's compiler, so they must not need a newer C library than the host's).
 */
export const APT_SOURCES = [
  'deb http://deb.debian.org/debian trixie-backports main',
  'deb http://deb.debian.org/debian trixie main',
  'deb http://deb.debian.org/debian bookworm main',
];

/** A package at an exact version. */
export interface PackageVersion {
  name: string;
  version: string;
}

export class PrivateApt {
  readonly dir: string;

  /** extraOptions: more `-o` settings for every apt call (e.g. `-oAcquire::http::Proxy=…`). */
  constructor(cacheDir: string, private readonly extraOptions: string[] = []) {
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
      // Nothing counts as installed: dependency closures are computed from scratch, whatever
      // the host (or its distribution) has.
      '-oDir::State::status=/dev/null',
      '-oAPT::Sandbox::User=root',
      '-oDebug::NoLocking=1',
      ...this.extraOptions,
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

  /** What `apt-get download` would fetch for these `name=version` specs, in the same order. */
  async uris(pkgs: string[]): Promise<Array<{ url: string; file: string; size: number }>> {
    const r = await exec('apt-get', [...this.options(), '-q', 'download', '--print-uris', ...pkgs]);
    return r.stdout.toString().split('\n').map((l) => /^'([^']+)' (\S+) (\d+) /.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => ({ url: m[1], file: m[2], size: Number(m[3]) }));
  }

  /**
   * The versions of a package in each suite of the lists (`apt-cache policy`), e.g.
   * { 'trixie-backports': ['1:11.1.3+ds-2~bpo13+1'], trixie: ['1:10.0.13+ds-0+deb13u1'] }.
   */
  async versionsBySuite(pkg: string): Promise<Record<string, string[]>> {
    const r = await exec('apt-cache', [...this.options(), 'policy', pkg]);
    return parsePolicy(r.stdout.toString());
  }

  /**
   * The packages (exact versions) apt would install for `pkgs` on a system with nothing
   * installed, without Recommends: the dependency closure, resolved but not downloaded.
   * `targetSuite` raises that suite's priority (`-t`), as needed for backports.
   */
  async closure(pkgs: string[], targetSuite?: string): Promise<PackageVersion[]> {
    const r = await exec('apt-get', [...this.options(), '-s', '-q', 'install', '--no-install-recommends',
      ...(targetSuite ? ['-t', targetSuite] : []), ...pkgs]);
    return parseSimulation(r.stdout.toString());
  }
}

/** The version table of `apt-cache policy`: suite → versions (newest first, as apt lists them). */
export function parsePolicy(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let version: string | undefined;
  let inTable = false;
  for (const line of text.split('\n')) {
    if (/^\s*Version table:/.test(line)) { inTable = true; continue; }
    if (!inTable) continue;
    const v = /^\s+(?:\*\*\*\s+)?(\S+)\s+-?\d+\s*$/.exec(line);
    if (v) { version = v[1]; continue; }
    const src = /^\s+-?\d+\s+\S+\s+(\S+?)\/\S+\s/.exec(line);
    if (src && version && !(out[src[1]] ??= []).includes(version)) out[src[1]].push(version);
  }
  return out;
}

/** The "Inst NAME (VERSION …)" lines of a simulated install. */
export function parseSimulation(text: string): PackageVersion[] {
  const out: PackageVersion[] = [];
  for (const line of text.split('\n')) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) /.exec(line);
    if (m) out.push({ name: m[1], version: m[2] });
  }
  return out;
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
