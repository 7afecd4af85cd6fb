// `vfio sriov BDF [--numvfs N]`: the SR-IOV state of a physical function — its VFs with their
// IOMMU groups and drivers — after setting how many VFs it has (0 removes them).
import { Command, InvalidArgumentError } from 'commander';
import { SriovError, SriovState, setNumVfs, sriovState } from '../../system/sriov';
import { Colors, table, toJson } from '../format';
import { CliError, Runtime } from '../report';
import { bdfArg, examples } from '../command-kit';

export function formatSriov(s: SriovState, c: Colors): string {
  const head = `${c.bold(s.pf)} SR-IOV PF (driver ${s.driver ?? 'none'}): ${s.numvfs} of ${s.totalvfs} VFs enabled\n`;
  if (s.vfs.length === 0) return head;
  const rows = s.vfs.map((v, i) => [i, v.bdf, v.group ?? '-', v.driver ?? '-']);
  const token =
    s.driver === 'vfio-pci'
      ? c.dim("opening a VF needs the PF's VF token: Device.open(vf, { vfToken }) (docs/sriov.md)\n")
      : '';
  return head + table(['VF', 'BDF', 'GROUP', 'DRIVER'], rows, c, '  ') + '\n' + token;
}

/** The state, after setting the VF count when `numvfs` is given; refusals as CliError. */
export function sriovCommand(bdf: string, numvfs: number | undefined, rt: Runtime): SriovState {
  const o = rt.sysfs ? { sysfs: rt.sysfs } : {};
  try {
    if (numvfs !== undefined) return setNumVfs(bdf, numvfs, o);
    return sriovState(bdf, o) ?? setNumVfs(bdf, 0, o);
  } catch (e) {
    if (e instanceof SriovError) throw new CliError(e.message, e.hint);
    throw e;
  }
}

export function addSriovCommand(program: Command, rt: Runtime, c: Colors): void {
  program
    .command('sriov')
    .description('SR-IOV of a physical function: its VFs (groups, drivers); --numvfs sets how many (needs root)')
    .addArgument(bdfArg())
    .option('--numvfs <n>', 'enable this many VFs (0 removes them)', (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a non-negative integer');
      return Number(v);
    })
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      "\nA PF bound to vfio-pci makes VFs only with vfio-pci's enable_sriov parameter on; its VFs are\n" +
        "bound to vfio-pci and open only with the VF token the PF's user set (docs/sriov.md).\n" +
        examples([
          'vfio sriov 0000:02:00.0',
          'sudo vfio sriov 02:00.0 --numvfs 2',
          'sudo vfio sriov 02:00.0 --numvfs 0',
        ]),
    )
    .action((bdf: string, opts: { numvfs?: number; json?: boolean }) => {
      const s = sriovCommand(bdf, opts.numvfs, rt);
      rt.out(opts.json ? toJson(s) + '\n' : formatSriov(s, c));
    });
}
