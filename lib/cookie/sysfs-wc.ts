// The sysfs route: `resourceN_wc`, which the PCI core creates for prefetchable memory BARs and
// maps with pgprot_writecombine. Three kernel rules decide whether it works beside an open VFIO
// device (measured on 7.3, see docs/cookies.md):
// 1. Exclusivity. Opening the VFIO device claims the BARs. With IO_STRICT_DEVMEM (the usual
//    default) the kernel then revokes existing sysfs mappings (next access: SIGBUS) and refuses
//    new ones (EINVAL). Only `iomem=relaxed` (or a kernel without IO_STRICT_DEVMEM) lifts that.
// 2. The open reserves. Opening the device makes vfio-pci map each BAR, reserving its memory type
//    in PAT until the device is closed: uncached-minus, unless a reservation is already there.
// 3. First reservation wins. PAT gives later requests the type already reserved, silently.
// So after a plain open a WC request through sysfs would be UC-; the order that works is to
// reserve the BAR WC before the open (reserve.ts, Device.open's `writeCombine`), after which the
// BAR is WC for vfio-pci's own mappings too. The probe reads the PAT list to tell which case holds.
import { VfioError, check, errnoError } from '../errors';
import { native } from '../addon/native';
import { hex } from './model';
import { overlapping } from './pat';
import { Route, barOf, probe, requireBar, reserveNeed } from './routes';

/** The route through the BAR's sysfs `resourceN_wc` file (prefetchable BARs; needs relaxed devmem or a reservation before open). */
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
      return probe(
        this.name,
        false,
        undefined,
        // No need listed: a BAR's prefetchability is the hardware's, nothing the user can change.
        `BAR${bar} is not prefetchable: the kernel creates ${file} only for prefetchable memory BARs`,
      );
    }
    if (!facts.sysfsWcPath(bar))
      return probe(
        this.name,
        false,
        undefined,
        `there is no ${file} in sysfs (no write-combining support for sysfs mappings here)`,
      );
    const dm = facts.devmem();
    if (dm.relaxed !== true) {
      return probe(
        this.name,
        false,
        undefined,
        `${dm.reason}: with the VFIO device open, vfio-pci owns BAR${bar} and the kernel refuses sysfs mappings of it (EINVAL) ` +
          'and revokes earlier ones (SIGBUS on the next access)',
        ['the boot option iomem=relaxed (for resourceN_wc beside an open VFIO device)'],
      );
    }
    const start = res.start + req.offset;
    const end = start + BigInt(req.length);
    const pat = facts.pat();
    let order: string;
    if (pat.ok) {
      const hits = overlapping(pat.entries, start, end);
      const others = hits.filter((e) => e.type !== 'wc');
      if (others.length) {
        const held = [...new Set(others.map((e) => e.type))].join(', ');
        return probe(
          this.name,
          false,
          undefined,
          `PAT already holds ${held} for [${hex(start)}-${hex(end)}) (${others.map((e) => `[${hex(e.start)}-${hex(e.end)})`).join(', ')}), ` +
            `reserved first (vfio-pci reserves each BAR when the device is opened); PAT gives later requests that type, ` +
            `so a WC mapping would silently be ${others[0].type}`,
          [reserveNeed(bar)],
        );
      }
      order = hits.length
        ? 'PAT already holds write-combining for the range'
        : 'nothing has reserved the range yet, so write-combining is reserved first';
    } else if (facts.wcReservedBeforeOpen(bar)) {
      order = `BAR${bar} was reserved write-combining before the device was opened; the PAT list is unreadable (${pat.reason}), so this is not verified`;
    } else {
      return probe(
        this.name,
        false,
        undefined,
        `the PAT list is unreadable (${pat.reason}), and vfio-pci reserves each BAR uncached-minus when the device is opened: ` +
          'a WC mapping would silently be UC-',
        [reserveNeed(bar)],
      );
    }
    return probe(this.name, true, 'wc', `${file}; ${dm.reason}; ${order}`);
  },

  open(req, env) {
    const bar = requireBar(req.region, 'MmapCookie.open');
    const path = env.facts.sysfsWcPath(bar);
    const device = env.facts.device;
    if (!path) throw errnoError(2, 'open', { device, detail: `resource${bar}_wc` });
    const { O_RDWR, O_CLOEXEC } = native().constants;
    const fd = check(native().open(path, O_RDWR | O_CLOEXEC), 'open', {
      device,
      detail: path,
      hint: 'sysfs resource files are root-only (CAP_SYS_ADMIN)',
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
              device,
              detail: path,
              cause: e,
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
