// `vfio doctor [BDF…]`: the library's ordered checks (lib/doctor), then for each device whose
// checks passed, the real thing: an open through VFIO and the write-combining routes of its
// prefetchable BARs (what Device.memattrRoutes reports). Printed as a table with the fix under
// each failure, or as JSON.
import type { Device, DeviceOpenOptions } from '../../device/device';
import { Check, DoctorOptions, doctor, passed } from '../../doctor';
import { Colors, table } from '../format';
import { prefetchableBars } from './cookies';
import { describeError } from '../report';

export interface DoctorCliOptions extends DoctorOptions {
  /** Opens a device as the other commands do; absent: the open and WC checks are skipped. */
  open?: (bdf: string) => Promise<Device>;
}

export interface DoctorResult {
  readonly ready: boolean;
  readonly checks: Check[];
}

async function openChecks(bdf: string, o: DoctorCliOptions): Promise<Check[]> {
  const at = (c: Omit<Check, 'device'>): Check => ({ ...c, device: bdf });
  if (!o.open) return [];
  let dev: Device;
  try {
    dev = await o.open(bdf);
  } catch (e) {
    const { message, hint } = describeError(e);
    return [
      at({ id: 'open', title: 'open through VFIO', status: 'fail', detail: message, ...(hint ? { fix: hint } : {}) }),
    ];
  }
  try {
    const out = [
      at({
        id: 'open',
        title: 'open through VFIO',
        status: 'ok',
        detail: `opened through ${dev.backend}: ${dev.regions.length} regions, ${dev.irqs.length} IRQ indexes`,
      }),
    ];
    const bars = prefetchableBars(bdf, o);
    if (!bars.length) {
      out.push(at({ id: 'wc', title: 'write-combining', status: 'skip', detail: 'no prefetchable memory BAR' }));
    }
    for (const n of bars) {
      const r = dev.memattrRoutes(dev.bar(n));
      out.push(
        r.wc.length
          ? at({ id: 'wc', title: 'write-combining', status: 'ok', detail: `BAR${n}: via ${r.wc.join(', ')}` })
          : at({
              id: 'wc',
              title: 'write-combining',
              status: 'warn',
              detail: `BAR${n}: no write-combining route (${r.why ?? 'none offered'})`,
              ...(r.hint ? { fix: r.hint } : {}),
            }),
      );
    }
    return out;
  } finally {
    dev.close();
  }
}

/** Every check for the host and the devices, in order; `ready` when none failed. */
export async function runDoctor(bdfs: readonly string[], o: DoctorCliOptions = {}): Promise<DoctorResult> {
  const report = doctor(bdfs, o);
  const checks: Check[] = report.checks.filter((c) => c.device === undefined);
  for (const bdf of bdfs) {
    const own = report.checks.filter((c) => c.device === bdf);
    checks.push(...own);
    if (passed(own)) checks.push(...(await openChecks(bdf, o)));
  }
  return { ready: passed(checks), checks };
}

const STATUS: Record<Check['status'], (c: Colors) => string> = {
  ok: (c) => c.green('ok'),
  warn: (c) => c.yellow('warn'),
  fail: (c) => c.red('FAIL'),
  skip: (c) => c.dim('skip'),
};

function section(checks: readonly Check[], c: Colors): string {
  const rows: string[][] = [];
  for (const k of checks) {
    rows.push([STATUS[k.status](c), k.title, k.detail]);
    if (k.fix && k.status !== 'ok') rows.push(['', '', `${c.yellow('fix:')} ${k.fix}`]);
  }
  return table(['STATUS', 'CHECK', 'FINDING'], rows, c, '  ');
}

export function formatDoctor(r: DoctorResult, c: Colors): string {
  const out = [
    c.bold('host'),
    section(
      r.checks.filter((k) => k.device === undefined),
      c,
    ),
  ];
  const devices = [...new Set(r.checks.flatMap((k) => (k.device ? [k.device] : [])))];
  for (const d of devices)
    out.push(
      '',
      c.bold(d),
      section(
        r.checks.filter((k) => k.device === d),
        c,
      ),
    );
  const failed = r.checks.filter((k) => k.status === 'fail');
  out.push(
    '',
    r.ready
      ? c.green('ready')
      : c.red(`not ready: ${failed.map((k) => (k.device ? `${k.id} (${k.device})` : k.id)).join(', ')}`),
  );
  return out.join('\n') + '\n';
}

export type { DeviceOpenOptions };
