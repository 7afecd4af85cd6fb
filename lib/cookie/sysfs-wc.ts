// The sysfs route: `resourceN_wc`, which the PCI core creates for prefetchable memory BARs and
// maps with pgprot_writecombine. Two kernel rules decide whether it works beside an open VFIO
// device (measured on 7.3, see docs/cookies.md):
// 1. Exclusivity. Opening the VFIO device claims the BARs. With IO_STRICT_DEVMEM (the usual
//    default) the kernel then revokes existing sysfs mappings (next access: SIGBUS) and refuses
//    new ones (EINVAL). Only `iomem=relaxed` (or a kernel without IO_STRICT_DEVMEM) lifts that.
// 2. First reservation wins. PAT keeps one memory type per physical range: whatever reserved the
//    range first. vfio-pci reserves its BAR uncached-minus (an ioremap of the whole BAR) at the
//    first mmap or read/write of it after the device is opened, and keeps it until the device is
//    closed. A later WC request is then given UC- silently; a WC mapping made first instead makes
//    vfio's own mapping of the BAR write-combining too.
// So the order that works is: open the device, make the WC cookie, only then map or touch the BAR
// through VFIO. The probe reads the PAT list to tell whether that order is still possible.
import { VfioError, check, errnoError } from '../errors';
import { native } from '../native';
import { hex } from './model';
import { overlapping } from './pat';
import { Route, barOf, probe } from './routes';

const ORDER_NEED = 'create the WC cookie right after Device.open, before the BAR is mapped or read/written through VFIO ' +
  '(close and reopen the device to drop vfio-pci\'s reservation)';

export const sysfsWcRoute: Route = {
  name: 'sysfs',
  probe(req, facts) {
    const bar = barOf(req.region);
    if (bar === undefined) return probe(this.name, false, undefined, `${req.region.name} is not a BAR`);
    const file = `resource${bar}_wc`;
    const res = facts.resource(bar);
    if (!res) return probe(this.name, false, undefined, `the sysfs resource file of ${facts.device} is not readable`);
    if (!res.mem) return probe(this.name, false, undefined, `BAR${bar} is not a memory BAR`);
    if (!res.prefetch) {
      return probe(this.name, false, undefined, `BAR${bar} is not prefetchable: the kernel creates ${file} only for prefetchable memory BARs`,
        [`a prefetchable BAR (BAR${bar} is not)`]);
    }
    if (!facts.sysfsWcPath(bar)) return probe(this.name, false, undefined, `there is no ${file} in sysfs (no write-combining support for sysfs mappings here)`);
    const dm = facts.devmem();
    if (dm.relaxed !== true) {
      return probe(this.name, false, undefined,
        `${dm.reason}: with the VFIO device open, vfio-pci owns BAR${bar} and the kernel refuses sysfs mappings of it (EINVAL) ` +
        'and revokes earlier ones (SIGBUS on the next access)', ['the boot option iomem=relaxed (for resourceN_wc beside an open VFIO device)']);
    }
    const start = res.start + req.offset;
    const end = start + BigInt(req.length);
    const pat = facts.pat();
    let order: string;
    if (pat.ok) {
      const others = overlapping(pat.entries, start, end).filter((e) => e.type !== 'wc');
      if (others.length) {
        const held = [...new Set(others.map((e) => e.type))].join(', ');
        return probe(this.name, false, undefined,
          `PAT already holds ${held} for [${hex(start)}-${hex(end)}) (${others.map((e) => `[${hex(e.start)}-${hex(e.end)})`).join(', ')}): ` +
          `something reserved it first, usually vfio-pci at the first mmap or read/write of BAR${bar} since the device was opened; ` +
          `PAT gives later requests that type, so a WC mapping would silently be ${others[0].type}`, [ORDER_NEED]);
      }
      order = overlapping(pat.entries, start, end).length
        ? 'PAT already holds write-combining for the range'
        : 'nothing has reserved the range yet, so write-combining is reserved first';
    } else {
      const live = facts.vfioMappings().filter((m) => m.bar === bar);
      if (live.length) {
        return probe(this.name, false, undefined,
          `the PAT list is unreadable (${pat.reason}) and BAR${bar} is mapped through VFIO (${live.length} live mapping(s)), ` +
          'which reserved it uncached-minus first: a WC mapping would silently be UC-', [ORDER_NEED]);
      }
      order = `the PAT list is unreadable (${pat.reason}), so the attribute cannot be verified`;
    }
    return probe(this.name, true, 'wc', `${file}; ${dm.reason}; ${order}`);
  },

  open(req, env) {
    const bar = barOf(req.region)!;
    const path = env.facts.sysfsWcPath(bar);
    const device = env.facts.device;
    if (!path) throw errnoError(2, 'open', { device, detail: `resource${bar}_wc` });
    const { O_RDWR, O_CLOEXEC } = native().constants;
    const fd = check(native().open(path, O_RDWR | O_CLOEXEC), 'open', {
      device, detail: path, hint: 'sysfs resource files are root-only (CAP_SYS_ADMIN)',
    });
    let open = true;
    return {
      backing: { kind: 'sysfs', path, fd, pgoff: req.offset / env.pageSize },
      pgprot: 'wc',
      map: () => {
        try {
          return env.region(req.region.index).mapRange(req.offset, req.length, fd, req.offset);
        } catch (e) {
          if (e instanceof VfioError && e.code === 'EINVAL') {
            throw errnoError(e.errno ?? 22, 'mmap', {
              device, detail: path, cause: e,
              hint: 'the kernel refuses sysfs mappings of a BAR a driver owns unless it runs with iomem=relaxed',
            });
          }
          throw e;
        }
      },
      close: () => {
        if (!open) return;
        open = false;
        native().close(fd);
      },
    };
  },
};
