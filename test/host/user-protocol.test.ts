// The vfio-user wire format on byte fixtures (laid out by hand from the protocol's tables), and
// config space built from a description.
import { ConfigSpace } from '../../lib/user/config';
import { validateDescription } from '../../lib/user/describe';
import * as P from '../../lib/user/protocol';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (b) => parseInt(b, 16));

describe('vfio-user messages', () => {
  it('decodes a header and encodes one byte for byte', () => {
    const bytes = hex('0500 0900 20000000 10000000 00000000' + '00'.repeat(16));
    expect(P.decodeHeader(bytes)).toEqual({ id: 5, command: 9, size: 32, flags: P.FLAG_NO_REPLY, error: 0 });
    const m = P.encodeMessage({ id: 0x1234, command: 10, flags: 0, error: 0 }, Uint8Array.of(0xaa));
    expect(Array.from(m)).toEqual(Array.from(hex('3412 0a00 11000000 00000000 00000000 aa')));
    expect(Array.from(P.encodeReply({ id: 2, command: 3 }, undefined, 22))).toEqual(
      Array.from(hex('0200 0300 10000000 21000000 16000000')),
    );
  });

  it('decodes VERSION with and without capabilities, and refuses bad JSON', () => {
    const json = new TextEncoder().encode('{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576}}\0');
    const p = new Uint8Array(4 + json.length);
    p.set(hex('0000 0000'));
    p.set(json, 4);
    expect(P.decodeVersion(p)).toEqual({
      major: 0,
      minor: 0,
      capabilities: { max_msg_fds: 8, max_data_xfer_size: 1048576 },
    });
    expect(P.decodeVersion(hex('0000 0100')).minor).toBe(1);
    expect(() => P.decodeVersion(Uint8Array.of(0, 0, 0, 0, 0x7b))).toThrow(P.ProtocolError);
    expect(() => P.decodeVersion(Uint8Array.of(0))).toThrow('at least 4');
  });

  it('decodes DMA_MAP and DMA_UNMAP, refusing wrong sizes and wrapping windows', () => {
    const map = hex('20000000 03000000 0010000000000000 0000200000000000 0020000000000000');
    expect(P.decodeDmaMap(map)).toEqual({ flags: 3, offset: 0x1000n, address: 0x200000n, size: 0x2000n });
    expect(() => P.decodeDmaMap(map.subarray(0, 24))).toThrow(P.ProtocolError);
    expect(() => P.decodeDmaMap(hex('20000000 03000000 0000000000000000 00f0ffffffffffff 0020000000000000'))).toThrow(
      'wrapping',
    );
    expect(() => P.decodeDmaMap(hex('20000000 04000000 0000000000000000 0000000000000000 0010000000000000'))).toThrow(
      'flags',
    );
    const unmap = hex('18000000 00000000 0018000000000000 0010000000000000');
    expect(P.decodeDmaUnmap(unmap)).toEqual({ argsz: 24, flags: 0, address: 0x1800n, size: 0x1000n });
    expect(Array.from(P.encodeDmaUnmap({ flags: 0, address: 0x1800n, size: 0x1000n }))).toEqual(Array.from(unmap));
  });

  it('decodes SET_IRQS: eventfd, disable-all, bools; refuses mixed flags', () => {
    expect(P.decodeSetIrqs(hex('14000000 24000000 01000000 00000000 01000000'))).toMatchObject({
      data: 'eventfd',
      index: 1,
      start: 0,
      count: 1,
    });
    expect(P.decodeSetIrqs(hex('14000000 21000000 02000000 00000000 00000000'))).toMatchObject({
      data: 'none',
      count: 0,
    });
    const bools = P.decodeSetIrqs(hex('16000000 22000000 02000000 00000000 02000000 0100'));
    expect(Array.from(bools.bools ?? [])).toEqual([1, 0]);
    expect(() => P.decodeSetIrqs(hex('14000000 23000000 01000000 00000000 01000000'))).toThrow('one data type');
    expect(() => P.decodeSetIrqs(hex('14000000 22000000 02000000 00000000 02000000'))).toThrow(P.ProtocolError);
  });

  it('decodes region accesses and encodes their replies', () => {
    const w = P.decodeRegionAccess(hex('0400000000000000 00000000 04000000 78563412'), true);
    expect(w).toMatchObject({ offset: 4n, region: 0, count: 4 });
    expect(Array.from(w.data ?? [])).toEqual([0x78, 0x56, 0x34, 0x12]);
    expect(() => P.decodeRegionAccess(hex('0400000000000000 00000000 08000000 78563412'), true)).toThrow(
      P.ProtocolError,
    );
    expect(() => P.decodeRegionAccess(hex('0400000000000000 00000000 04000000 00'), false)).toThrow(P.ProtocolError);
    expect(Array.from(P.encodeRegionAccess({ offset: 8n, region: 7, count: 2, data: Uint8Array.of(1, 2) }))).toEqual(
      Array.from(hex('0800000000000000 07000000 02000000 0102')),
    );
    expect(Array.from(P.encodeDmaRead(0x1000n, 16))).toEqual(Array.from(hex('0010000000000000 1000000000000000')));
  });
});

describe('config space from a description', () => {
  const desc = {
    vendorId: 0x1b36,
    deviceId: 0x0042,
    classCode: 0x010802,
    bars: [
      { index: 0, size: 0x4000, kind: 'mem64' as const },
      { index: 2, size: 0x100, kind: 'io' as const },
    ],
    capabilities: [
      { type: 'msi' as const, vectors: 4 as const, perVectorMask: true },
      { type: 'msix' as const, vectors: 16, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
      { type: 'pcie' as const },
    ],
  };
  const c = new ConfigSpace(desc);
  const u32 = (o: number) => new DataView(c.bytes.buffer).getUint32(o, true);

  it('chains the capabilities and sizes config space for PCI Express', () => {
    expect(c.bytes.length).toBe(4096);
    expect(c.caps).toEqual([
      { type: 'msi', offset: 0x40 },
      { type: 'msix', offset: 0x58 },
      { type: 'pcie', offset: 0x64 },
    ]);
    expect([c.bytes[0x34], c.bytes[0x41], c.bytes[0x59], c.bytes[0x65]]).toEqual([0x40, 0x58, 0x64, 0]);
    expect(c.u16(0x42)).toBe(0x0184); // 4 vectors, 64-bit, per-vector masking
    expect(c.u16(0x5a)).toBe(15); // MSI-X table size - 1
    expect(u32(0x5c)).toBe(0x2000);
    expect(c.u16(0x06) & 0x10).toBe(0x10);
  });

  it('masks writes: BAR sizing, read-only ids and capability bits', () => {
    c.write(0x10, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    c.write(0x14, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    expect(u32(0x10)).toBe(0xffffc004); // 16 KiB, 64-bit memory
    expect(u32(0x14)).toBe(0xffffffff);
    c.write(0x18, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    expect(u32(0x18)).toBe(0xffffff01); // 256 bytes of I/O
    c.write(0x00, Uint8Array.of(0, 0, 0, 0));
    expect(u32(0x00)).toBe(0x00421b36);
    c.write(0x42, Uint8Array.of(0xff, 0xff)); // MSI control: only enable and MME move
    expect(c.u16(0x42)).toBe(0x01f5);
    c.write(0x5a, Uint8Array.of(0xff, 0xff)); // MSI-X control: enable and function mask
    expect(c.u16(0x5a)).toBe(0xc00f);
  });

  it('refuses descriptions no PCI device can have', () => {
    expect(() => validateDescription({ ...desc, vendorId: 0x10000 })).toThrow('16-bit');
    expect(() => validateDescription({ ...desc, bars: [{ index: 0, size: 3000, kind: 'mem32' }] })).toThrow(
      'power of two',
    );
    expect(() => validateDescription({ ...desc, bars: [{ index: 5, size: 4096, kind: 'mem64' }] })).toThrow('index 5');
    expect(() =>
      validateDescription({
        ...desc,
        capabilities: [{ type: 'msix', vectors: 16, tableBar: 0, tableOffset: 0x3f80, pbaBar: 0, pbaOffset: 0 }],
      }),
    ).toThrow('MSI-X');
    expect(() => validateDescription(desc)).not.toThrow();
  });
});
