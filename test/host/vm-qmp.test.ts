// The QMP client, the run's monitor and the guest's request protocol against a scripted QEMU on
// a unix socket: the wire format (greeting, capabilities, ids, errors, events, lines split
// across reads), unplug's order (listen for DEVICE_DELETED, device_del, wait for its own
// device's event) and the replies a guest gets. The real QEMU and guest kernel are exercised by
// test/guest/hot-unplug.test.ts.
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { QmpClient, QmpError, QmpEvent } from '../../lib/vm/qemu/qmp';
import { VmMonitor, listenMonitor } from '../../lib/vm/qemu/monitor';
import { GuestReply, answerRequest } from '../../lib/vm/qemu/guest-requests';
import { requestPortPath } from '../../lib/vm/guest/unplug-request';
import { VmError } from '../../lib/vm/core/errors';
import { must } from '../support/must';

const GREETING = { QMP: { version: { qemu: { major: 11, minor: 1, micro: 3 }, package: '' }, capabilities: ['oob'] } };

type Msg = Record<string, unknown>;

/** A scripted QEMU: answers each command with what `reply` returns (lines sent as given). */
class FakeQemu {
  readonly received: Msg[] = [];
  sock?: net.Socket;

  constructor(private readonly reply: (m: Msg, send: (o: unknown) => void) => void) {}

  attach(sock: net.Socket, greet = true): void {
    this.sock = sock;
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      const lines = (buf + c).split('\n');
      buf = must(lines.pop(), 'lines.pop()');
      for (const l of lines) {
        const m = JSON.parse(l) as Msg;
        this.received.push(m);
        this.reply(m, (o) => this.send(o));
      }
    });
    if (greet) this.send(GREETING);
  }

  send(o: unknown): void {
    must(this.sock, 'this.sock').write(JSON.stringify(o) + '\n');
  }
}

const ok = (m: Msg, ret: unknown = {}) => ({ return: ret, id: m.id });
const standard = (m: Msg, send: (o: unknown) => void) => send(ok(m));

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-qmp-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A connected client and its fake QEMU (QEMU connects to the host's socket, as in a run). */
async function pair(reply: FakeQemu['reply'] = standard): Promise<{ client: QmpClient; qemu: FakeQemu }> {
  const file = path.join(dir, 'qmp.sock');
  const qemu = new FakeQemu(reply);
  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer((s) => {
      server.close();
      resolve(s);
    });
    server.listen(file, () => {
      const c = net.connect(file);
      qemu.attach(c);
    });
  });
  return { client: new QmpClient(await accepted), qemu };
}

describe('QmpClient', () => {
  it('waits for the greeting, then negotiates capabilities', async () => {
    const { client, qemu } = await pair();
    const g = await client.negotiate();
    expect(g.version.qemu).toEqual({ major: 11, minor: 1, micro: 3 });
    expect(qemu.received).toEqual([{ execute: 'qmp_capabilities', id: 'c1' }]);
    client.close();
  });

  it('matches replies to commands by id, also out of order and split across reads', async () => {
    const held: Msg[] = [];
    const { client, qemu } = await pair((m, send) => {
      if (m.execute === 'qmp_capabilities') return send(ok(m));
      held.push(m);
      if (held.length < 2) return;
      // The second command's reply first, written one byte at a time.
      const text =
        JSON.stringify(ok(held[1], { second: held[1].arguments })) + '\n' + JSON.stringify(ok(held[0], 'first')) + '\n';
      for (const ch of text) must(qemu.sock, 'qemu.sock').write(ch);
    });
    await client.negotiate();
    const a = client.execute('query-a');
    const b = client.execute('query-b', { n: 2 });
    expect(await Promise.all([a, b])).toEqual(['first', { second: { n: 2 } }]);
    expect(qemu.received.slice(1)).toEqual([
      { execute: 'query-a', id: 'c2' },
      { execute: 'query-b', arguments: { n: 2 }, id: 'c3' },
    ]);
    client.close();
  });

  it("rejects with QEMU's error class and description", async () => {
    const { client } = await pair((m, send) =>
      m.execute === 'device_del'
        ? send({ error: { class: 'DeviceNotFound', desc: "Device 'x' not found" }, id: m.id })
        : send(ok(m)),
    );
    await client.negotiate();
    const e = (await client.execute('device_del', { id: 'x' }).catch((x) => x)) as QmpError;
    expect(e).toBeInstanceOf(QmpError);
    expect([e.command, e.errorClass, e.desc]).toEqual(['device_del', 'DeviceNotFound', "Device 'x' not found"]);
    client.close();
  });

  it('emits events between replies, and waitEvent takes only the matching one', async () => {
    const { client, qemu } = await pair();
    await client.negotiate();
    const seen: QmpEvent[] = [];
    client.on('event', (e) => seen.push(e));
    const wanted = client.waitEvent('DEVICE_DELETED', (d) => d.device === 'nvme', 5000);
    const ts = { seconds: 1, microseconds: 2 };
    qemu.send({ event: 'DEVICE_DELETED', data: { path: '/machine/peripheral-anon/device[3]' }, timestamp: ts });
    qemu.send({ event: 'DEVICE_DELETED', data: { device: 'edu', path: '/machine/peripheral/edu' }, timestamp: ts });
    qemu.send({ event: 'DEVICE_DELETED', data: { device: 'nvme', path: '/machine/peripheral/nvme' }, timestamp: ts });
    expect((await wanted).data).toEqual({ device: 'nvme', path: '/machine/peripheral/nvme' });
    expect(seen.map((e) => e.data.device)).toEqual([undefined, 'edu', 'nvme']);
    await expect(client.waitEvent('SHUTDOWN', () => true, 50)).rejects.toThrow(/no SHUTDOWN event within 50 ms/);
    client.close();
  });

  it('rejects commands in flight and event waits when the connection ends', async () => {
    const { client, qemu } = await pair((m, send) => (m.execute === 'qmp_capabilities' ? send(ok(m)) : undefined));
    await client.negotiate();
    const pending = client.execute('query-status');
    const waiting = client.waitEvent('DEVICE_DELETED', () => true, 5000);
    must(qemu.sock, 'qemu.sock').destroy();
    await expect(pending).rejects.toThrow(/QMP connection closed/);
    await expect(waiting).rejects.toThrow(/QMP connection closed/);
    await expect(client.execute('query-status')).rejects.toThrow(/QMP connection closed/);
  });

  it('a line that is not JSON ends the connection with an error naming it', async () => {
    const { client, qemu } = await pair(() => undefined);
    const neg = client.negotiate();
    await new Promise((r) => setTimeout(r, 20));
    must(qemu.sock, 'qemu.sock').write('garbage\n');
    await expect(neg).rejects.toThrow(/not a JSON object: garbage/);
  });

  it.each(['null', '42', '[1]'])(
    'a line of JSON that is not an object (%s) ends the connection, not the process',
    async (line) => {
      const { client, qemu } = await pair(() => undefined);
      const neg = client.negotiate();
      await new Promise((r) => setTimeout(r, 20));
      must(qemu.sock, 'qemu.sock').write(`${line}\n`);
      await expect(neg).rejects.toThrow(/not a JSON object/);
    },
  );
});

/** A monitor over a fake QEMU that deletes a device some time after device_del (or refuses). */
async function monitorWith(
  onDel: (id: string, qemu: FakeQemu, m: Msg) => void,
): Promise<{ monitor: VmMonitor; qemu: FakeQemu }> {
  const file = path.join(dir, 'qmp.sock');
  const devices = [
    { id: 'edu', bdf: '0000:00:03.0' },
    { id: 'nvme', bdf: '0000:01:00.0' },
  ];
  const mon = listenMonitor(file, devices);
  await mon.listening;
  const qemu = new FakeQemu((m, send) =>
    m.execute === 'device_del' ? onDel((m.arguments as Msg).id as string, qemu, m) : send(ok(m)),
  );
  qemu.attach(net.connect(file));
  return { monitor: await mon.monitor, qemu };
}

const deleted = (id: string) => ({
  event: 'DEVICE_DELETED',
  data: { device: id, path: `/machine/peripheral/${id}` },
  timestamp: { seconds: 0, microseconds: 0 },
});

describe('VmMonitor.unplug', () => {
  it("sends device_del and resolves on its own device's DEVICE_DELETED, after onRequested", async () => {
    const { monitor, qemu } = await monitorWith((id, q, m) => {
      q.send(ok(m));
      setTimeout(() => {
        q.send(deleted('edu')); // another device's event does not end the wait
        setTimeout(() => q.send(deleted(id)), 30);
      }, 30);
    });
    const steps: string[] = [];
    const done = monitor
      .unplug('nvme', { onRequested: () => steps.push('requested') })
      .then(() => steps.push('deleted'));
    await done;
    expect(steps).toEqual(['requested', 'deleted']);
    expect(qemu.received.filter((m) => m.execute === 'device_del')).toEqual([
      { execute: 'device_del', arguments: { id: 'nvme' }, id: 'c2' },
    ]);
    monitor.qmp.close();
  });

  it('refuses an id that is not a device of the run without asking QEMU', async () => {
    const { monitor, qemu } = await monitorWith(() => undefined);
    const e = (await monitor.unplug('rp5').catch((x) => x)) as VmError;
    expect([e.kind, e.message]).toEqual(['monitor', 'unplug "rp5": not a device of this run (its devices: edu, nvme)']);
    expect(qemu.received.map((m) => m.execute)).toEqual(['qmp_capabilities']);
    monitor.qmp.close();
  });

  it("passes QEMU's refusal on, and times out when the device stays", async () => {
    const { monitor } = await monitorWith((id, q, m) =>
      id === 'edu'
        ? q.send({ error: { class: 'GenericError', desc: "Bus 'pcie.0' does not support hotplugging" }, id: m.id })
        : q.send(ok(m)),
    );
    await expect(monitor.unplug('edu')).rejects.toThrow(
      "unplug edu: QEMU refused device_del: Bus 'pcie.0' does not support hotplugging",
    );
    await expect(monitor.unplug('nvme', { timeoutMs: 50 })).rejects.toThrow(
      /unplug nvme: QEMU did not delete the device \(no DEVICE_DELETED event within 50 ms\)/,
    );
    monitor.qmp.close();
  });
});

describe('guest requests', () => {
  const answers = async (line: string, monitor: Promise<VmMonitor>) => {
    const out: GuestReply[] = [];
    await answerRequest(line, monitor, (r) => out.push(r));
    return out;
  };

  it('an unplug request is answered requested, then deleted, under its tag', async () => {
    const { monitor } = await monitorWith((id, q, m) => {
      q.send(ok(m));
      setTimeout(() => q.send(deleted(id)), 20);
    });
    expect(await answers('{"unplug":"nvme","tag":"7-1"}', Promise.resolve(monitor))).toEqual([
      { tag: '7-1', status: 'requested' },
      { tag: '7-1', status: 'deleted' },
    ]);
    monitor.qmp.close();
  });

  it('malformed requests, unknown devices and bad timeouts are errors, never reaching QEMU', async () => {
    const { monitor, qemu } = await monitorWith(() => undefined);
    const m = Promise.resolve(monitor);
    expect(await answers('nope', m)).toEqual([{ tag: '', status: 'error', message: 'not a JSON object' }]);
    expect(await answers('{"tag":"a","plug":"edu"}', m)).toEqual([
      { tag: 'a', status: 'error', message: 'unknown request: expected {"unplug": DEVICE_ID, "tag": TAG}' },
    ]);
    expect(await answers('{"tag":"b","unplug":"con"}', m)).toEqual([
      { tag: 'b', status: 'error', message: 'unplug "con": not a device of this run (its devices: edu, nvme)' },
    ]);
    expect((await answers('{"tag":"c","unplug":"edu","timeoutSeconds":-1}', m))[0].message).toMatch(
      /timeoutSeconds must be a number/,
    );
    expect(qemu.received.map((x) => x.execute)).toEqual(['qmp_capabilities']);
    monitor.qmp.close();
  });
});

describe('the guest side', () => {
  it('finds the request port among the virtio ports by its name', () => {
    const ports = path.join(dir, 'class', 'virtio-ports');
    for (const [p, name] of [
      ['vport1p1', 'vfio-vm.stdout'],
      ['vport1p3', 'vfio-vm.requests'],
    ]) {
      fs.mkdirSync(path.join(ports, p), { recursive: true });
      fs.writeFileSync(path.join(ports, p, 'name'), `${name}\n`);
    }
    fs.mkdirSync(path.join(ports, 'vport1p9'));
    expect(requestPortPath(dir)).toBe('/dev/vport1p3');
    expect(requestPortPath(path.join(dir, 'none'))).toBeUndefined();
  });
});
