// `vfio cookies BDF`: for each BAR, which routes to a write-combining mapping (mmap cookie) this
// kernel and device offer — a WC region, a dma-buf with a memory attribute, sysfs resourceN_wc,
// plain VFIO mmap — what each would give, and what would make WC available where none does.
import type { MemattrRoutesReport, RouteProbe } from '../../cookie/model';
import type { Device } from '../../device/device';
import { VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX } from '../../abi';
import { parseResourceFile } from '../../decode';
import * as sysfs from '../../system/sysfs';
import { Colors, size, table } from '../format';

export interface BarRoutes {
  readonly bar: number;
  readonly region: string;
  readonly size: bigint;
  readonly report: MemattrRoutesReport;
}

/** The route reports of every implemented BAR (or of one). */
export function gatherCookies(dev: Device, bar?: number): BarRoutes[] {
  return dev.regions
    .filter((r) => r.index >= VFIO_PCI_BAR0_REGION_INDEX && r.index <= VFIO_PCI_BAR5_REGION_INDEX && r.size > 0n)
    .filter((r) => bar === undefined || r.index === VFIO_PCI_BAR0_REGION_INDEX + bar)
    .map((r) => ({
      bar: r.index - VFIO_PCI_BAR0_REGION_INDEX,
      region: r.name,
      size: r.size,
      report: dev.memattrRoutes(r),
    }));
}

/**
 * The prefetchable memory BARs (the ones sysfs offers resourceN_wc for), or just `only`: what
 * --reserve-wc reserves write-combining before the device is opened.
 */
export function prefetchableBars(bdf: string, o: sysfs.SysfsOptions = {}, only?: number): number[] {
  const text = sysfs.resourceText(bdf, o);
  if (text === undefined) return [];
  return parseResourceFile(text)
    .filter((r) => r.index <= 5 && r.size > 0n && r.mem && r.prefetch && (only === undefined || r.index === only))
    .map((r) => r.index);
}

function routeRow(p: RouteProbe, c: Colors): string[] {
  const gives = p.gives ?? '-';
  // Tentative: the route opens, but only an mmap would tell whether the kernel lets it map.
  const available = !p.available ? c.dim('no') : p.tentative ? c.yellow('maybe') : c.green('yes');
  return [p.route, available, p.gives === 'wc' ? c.green(gives) : gives, p.reason];
}

export function formatCookies(bdf: string, bars: readonly BarRoutes[], c: Colors): string {
  if (bars.length === 0) return `${bdf}: no implemented BAR\n`;
  const out: string[] = [];
  for (const b of bars) {
    const r = b.report;
    const verdict = r.wc.length
      ? c.green(`write-combining via ${r.wc.join(', ')}`)
      : c.yellow('no write-combining route');
    out.push(`${c.bold(bdf)} ${b.region} (${size(b.size)}): ${verdict}`);
    out.push(
      table(
        ['ROUTE', 'AVAILABLE', 'GIVES', 'REASON'],
        r.routes.map((p) => routeRow(p, c)),
        c,
        '  ',
      ),
    );
    const needs = r.routes.filter((p) => p.needs.length).map((p) => `${p.route}: ${p.needs.join('; ')}`);
    // The table already gives each route's reason (the report's `why` repeats them): only
    // what would change the verdict is added.
    if (r.wc.length === 0) {
      if (r.hint) out.push(`  ${c.yellow('hint:')} ${r.hint}`);
      else if (needs.length) out.push(`  needs: ${needs.join(' | ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}
