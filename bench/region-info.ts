// VFIO_DEVICE_GET_REGION_INFO with capabilities, Node against C in the same process (inside
// `vfio-vm run`): nvme's BAR0 carries an MSIX_MAPPABLE cap, so both sides ask twice (base size,
// then the argsz the kernel wants) and walk the chain; Node also decodes into objects.
import { Device } from '../lib';
import { REGION_INFO_SIZE, decodeRegionInfo } from '../lib/decode';
import { queryInfo } from '../lib/info';
import { native } from '../lib/native';
import { loadBaseline, median, ratioLine } from './util';

const ROUNDS = 11;
const N = 2000;

async function main(): Promise<void> {
  const bdf = process.env.VFIO_VM_NVME;
  if (!bdf) throw new Error('needs VFIO_VM_NVME (run inside `vfio-vm run`)');
  const c = loadBaseline();
  const dev = await Device.open(bdf);
  const fd = dev.fd('bench');
  const js = () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const r = queryInfo(REGION_INFO_SIZE, (b) => native().VFIO_DEVICE_GET_REGION_INFO(fd, 0, b));
      if (typeof r === 'number') throw new Error(`GET_REGION_INFO: ${r}`);
      decodeRegionInfo(r);
    }
    return Number(process.hrtime.bigint() - t0);
  };
  js();
  const ratios: number[] = [];
  for (let k = 0; k < ROUNDS; k++) ratios.push(js() / c.region_info_loop(fd, 0, N));
  console.log(`GET_REGION_INFO (nvme BAR0, with caps), ${N} calls x ${ROUNDS} rounds, median Node/C:`);
  console.log(ratioLine('  region info', median(ratios)));
  dev.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
