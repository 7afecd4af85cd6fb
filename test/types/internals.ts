// The published declarations hold no `@internal` member: each access below must fail to compile.
import { Device, DmaBuffer, Irq } from 'vfio';

declare const dev: Device;
declare const buf: DmaBuffer;
declare const irq: Irq;

// @ts-expect-error Device.fd is internal
dev.fd('x');
// @ts-expect-error Device.own is internal
void dev.own;
// @ts-expect-error DmaBuffer.memId is internal
void buf.memId;
// @ts-expect-error Irq.deliver is internal
irq.deliver(0, 1);
