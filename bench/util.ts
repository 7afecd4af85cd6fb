// Shared pieces of the benchmarks: the C baseline addon, medians, report lines.
import * as path from 'path';
import { packageRoot } from '../lib/addon/paths';

export interface Baseline {
  write32_loop(buffer: ArrayBuffer, offset: number, iterations: number): number;
  read32_loop(buffer: ArrayBuffer, offset: number, iterations: number): number;
  region_info_loop(deviceFd: number, index: number, iterations: number): number;
  /** MAP_DMA + UNMAP_DMA pairs at a fixed IOVA: nanoseconds, or -errno. */
  dma_map_loop(containerFd: number, buffer: ArrayBuffer, length: number, iova: number, iterations: number): number;
}

/** The C baselines (bench/native), built by `npm run bench` before any benchmark runs. */
export function loadBaseline(): Baseline {
  const file = path.join(packageRoot(), 'bench/native/build/Release/vfio_bench.node');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as Baseline;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function ratioLine(label: string, ratio: number): string {
  return `${label}  ${ratio.toFixed(2)}x`;
}

/** The value, or a thrown Error naming what was missing (a benchmark has no user to recover). */
export function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`bench: ${what} is missing`);
  return value;
}
