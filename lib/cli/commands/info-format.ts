// The text of `vfio info`: an lspci -vv-like page built from InfoData (pure, host-testable).
import type { RegionCap } from '../../decode';
import { Colors, flag, hex, hex4, setFlags, size, table } from '../format';
import type { CapData, FeatureData, InfoData, IrqData, RegionData } from './info';

const INDENT = '\t';

function titleLine(d: InfoData, c: Colors): string {
  const cls = `${d.className} [${hex4(d.ids.class >>> 8)}]`;
  const name = [d.vendorName, d.deviceName].filter(Boolean).join(' ') || 'Device';
  return `${c.bold(d.bdf)} ${cls}: ${name} [${hex4(d.ids.vendor)}:${hex4(d.ids.device)}] (rev ${d.ids.revision.toString(16).padStart(2, '0')})`;
}

function commandLine(cmd: number): string {
  return [
    flag('I/O', (cmd & 0x1) !== 0),
    flag('Mem', (cmd & 0x2) !== 0),
    flag('BusMaster', (cmd & 0x4) !== 0),
    flag('SERR', (cmd & 0x100) !== 0),
    flag('DisINTx', (cmd & 0x400) !== 0),
  ].join(' ');
}

function statusLine(st: number): string {
  return [
    flag('Cap', (st & 0x10) !== 0),
    flag('INTx', (st & 0x8) !== 0),
    flag('66MHz', (st & 0x20) !== 0),
    flag('<MAbort', (st & 0x2000) !== 0),
    flag('>SERR', (st & 0x4000) !== 0),
  ].join(' ');
}

/** Region caps in a few words: 'sparse-mmap(2)', 'msix-mappable', 'type 0x3/0x1', 'cap 0x7 v1'. */
export function regionCapText(cap: RegionCap): string {
  switch (cap.type) {
    case 'sparse-mmap':
      return `sparse-mmap(${cap.areas.length})`;
    case 'type':
      return `type ${hex(cap.regionType)}/${hex(cap.subtype)}`;
    case 'msix-mappable':
      return 'msix-mappable';
    default:
      return `cap ${hex(cap.id)} v${cap.version}`;
  }
}

function access(r: RegionData): string {
  return [r.flags.read ? 'r' : '-', r.flags.write ? 'w' : '-', r.flags.mmap ? 'm' : '-'].join('');
}

function areas(r: RegionData): string {
  if (!r.flags.mmap) return '-';
  if (r.mappableAreas.length === 0) return 'none';
  return r.mappableAreas.map((a) => `${hex(a.offset)}+${size(a.size)}`).join(' ');
}

/** The region table; regions of size 0 (BARs the device does not implement) are summarised below it. */
export function formatRegions(regions: readonly RegionData[], c: Colors): string {
  const live = regions.filter((r) => r.size > 0n);
  const empty = regions.filter((r) => r.size === 0n);
  const rows = live.map((r) => [
    r.index,
    r.name,
    r.resource?.type ?? '-',
    size(r.size),
    hex(r.offset),
    access(r),
    areas(r),
    r.caps.map(regionCapText).join(' ') || '-',
  ]);
  let out =
    table(['INDEX', 'NAME', 'TYPE', 'SIZE', 'FD OFFSET', 'ACCESS', 'MMAP AREAS', 'CAPS'], rows, c, INDENT + '  ') +
    '\n';
  if (empty.length) out += `${INDENT}  ${c.dim(`not implemented: ${empty.map((r) => r.name).join(' ')}`)}\n`;
  return out;
}

export function formatIrqs(irqs: readonly IrqData[], c: Colors): string {
  const rows = irqs.map((i) => [i.index, i.name, i.count, setFlags(i.flags).join(' ') || '-']);
  return table(['INDEX', 'NAME', 'COUNT', 'FLAGS'], rows, c, INDENT + '  ') + '\n';
}

export function formatFeatures(features: readonly FeatureData[], c: Colors, indent = INDENT + '  '): string {
  if (features.length === 0) return `${indent}${c.dim('none offered (`vfio features BDF` shows every probe)')}\n`;
  const rows = features.map((f) => [f.index, f.name, f.get ? 'yes' : 'no', f.set ? 'yes' : 'no']);
  return table(['INDEX', 'NAME', 'GET', 'SET'], rows, c, indent) + '\n';
}

/** One capability's decoded fields, lspci-style ('Enable+ Count=1/1 64bit+'). */
export function capDetailText(cap: CapData): string {
  const d = cap.details as Record<string, never> | null;
  if (!d) return '';
  switch (cap.name) {
    case 'MSI':
      return `${flag('Enable', d.enabled)} Count=${d.vectorsEnabled}/${d.vectorsCapable} ${flag('64bit', d.addr64)} ${flag('Maskable', d.perVectorMasking)}`;
    case 'MSI-X':
      return (
        `${flag('Enable', d.enabled)} ${flag('Masked', d.functionMasked)} Count=${d.tableSize} ` +
        `Table: BAR${d.tableBar}+${hex(d.tableOffset)} PBA: BAR${d.pbaBar}+${hex(d.pbaOffset)}`
      );
    case 'PCIe':
      return `v${d.version} ${d.portTypeName}, MaxPayload ${d.maxPayloadSupported} bytes, ${flag('FLReset', d.flr)}`;
    case 'PM':
      return `v${d.version} D${d.powerState} ${flag('NoSoftRst', d.noSoftReset)}`;
    default:
      return '';
  }
}

function formatCaps(cfg: InfoData['config'], c: Colors): string {
  const lines: string[] = [];
  for (const cap of cfg.capabilities) {
    const detail = capDetailText(cap);
    lines.push(`${INDENT}  [${cap.offset.toString(16)}] ${c.cyan(cap.name)}${detail ? `: ${detail}` : ''}`);
  }
  for (const cap of cfg.extended) {
    lines.push(`${INDENT}  [${cap.offset.toString(16)} v${cap.version}] ${c.cyan(cap.name)}`);
  }
  if (lines.length === 0) lines.push(`${INDENT}  ${c.dim('none')}`);
  return lines.join('\n') + '\n';
}

function section(title: string, c: Colors): string {
  return `${INDENT}${c.bold(title)}:\n`;
}

/** The whole `vfio info` page. */
export function formatInfo(d: InfoData, c: Colors): string {
  const flags =
    setFlags(d.device.flags)
      .map((f) => f.toUpperCase())
      .join(' ') || 'none';
  const devCaps = d.device.caps.map((x) => (x.type === 'unknown' ? `cap ${hex(x.id)}` : x.type)).join(' ') || 'none';
  const subsystem =
    d.ids.subsystemVendor === null || d.ids.subsystemDevice === null
      ? ''
      : `${INDENT}Subsystem: ${hex4(d.ids.subsystemVendor)}:${hex4(d.ids.subsystemDevice)}\n`;
  return [
    titleLine(d, c) + '\n',
    subsystem,
    `${INDENT}Driver: ${d.driver ?? '-'}, IOMMU group ${d.group ?? 'none'}, opened through ${d.backend}\n`,
    `${INDENT}VFIO: flags ${flags}; ${d.device.numRegions} regions, ${d.device.numIrqs} IRQ indexes; device caps: ${devCaps}\n`,
    `${INDENT}Control: ${commandLine(d.config.command)}\n`,
    `${INDENT}Status: ${statusLine(d.config.status)}\n`,
    `${INDENT}Interrupt: ${d.config.interruptPin ? `pin ${String.fromCharCode(0x40 + d.config.interruptPin)}` : 'no INTx pin'}; config space ${d.config.size} bytes\n`,
    section('Regions', c),
    formatRegions(d.regions, c),
    section('IRQs', c),
    formatIrqs(d.irqs, c),
    section('Features', c),
    formatFeatures(d.features, c),
    section('Capabilities', c),
    formatCaps(d.config, c),
  ].join('');
}
