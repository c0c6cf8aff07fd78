import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { LatencyHistogram } from './histogram.js';

/**
 * A closed-loop HTTP/1.1 load generator on raw keep-alive sockets: `connections` sockets, each
 * with one request in flight (no pipelining, so latency is the true round trip). Requests are
 * prebuilt byte strings, and responses are parsed only as far as the status line and
 * Content-Length, so the generator costs far less CPU per request than the server it measures.
 */
export interface LoadOptions {
  host?: string;
  port: number;
  connections: number;
  /** Requests run but are not counted for this long first (JIT, caches, SQLite pages). */
  warmupMs: number;
  /** The measured window. */
  durationMs: number;
  /**
   * The next raw request for connection `conn` (0..connections-1); undefined when there are no
   * more (then the run ends early).
   */
  next: (conn: number) => Buffer | undefined;
  /** Statuses that count as success; anything else counts as an error. */
  okStatus?: (status: number) => boolean;
  /** Called with every `inspectEvery`-th response body (including during warm-up), to check it. */
  inspect?: (status: number, body: Buffer) => void;
  inspectEvery?: number;
  /** The server's pid, to report its CPU use over the window. */
  serverPid?: number;
  /** Several servers (e.g. nodes behind one DP): connection i goes to ports[i % ports.length]. */
  ports?: number[];
  /** Every server process: their CPU is summed into serverCpu (with serverPid if given). */
  serverPids?: number[];
  /** Other processes to account apart, by name (e.g. the database's), each summed over its pids. */
  groups?: Record<string, () => number[]>;
  /** Told when the measured window opens and closes (e.g. to profile the window alone). */
  onWindow?: (edge: 'start' | 'end') => void;
}

export interface LoadResult {
  /** Requests completed inside the measured window. */
  requests: number;
  errors: number;
  statuses: Record<number, number>;
  seconds: number;
  perSecond: number;
  /** Response bytes (headers and bodies) per second in the window. */
  bytesPerSecond: number;
  latency: LatencyHistogram;
  /** True when `next` ran dry before the window ended. */
  exhausted: boolean;
  /** CPU used by this (load generator) process over the window, as a share of one core. */
  generatorCpu: number;
  /** CPU used by the server process over the window, as a share of one core (when its pid is known). */
  serverCpu: number | undefined;
  /** CPU used by every other process on the machine over the window, in cores (Linux only). */
  otherCpu: number | undefined;
  /** CPU of each of `groups` over the window, in cores (their pids as found at its start). */
  groupCpu: Record<string, number>;
}

/** Busy CPU seconds of the whole machine so far, from /proc/stat; undefined off Linux. */
export function machineBusySeconds(): number | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - (cpu[3] ?? 0) - (cpu[4] ?? 0);
    return busy / 100;
  } catch {
    return undefined;
  }
}

/** User plus system CPU seconds of a process so far, from /proc (Linux); undefined elsewhere. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), counted after the command name.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** A POST with a JSON body, as raw bytes. */
export function rawPost(path: string, body: string, headers: Record<string, string> = {}): Buffer {
  const payload = Buffer.from(body, 'utf8');
  let head = `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), payload]);
}

const headerEnd = Buffer.from('\r\n\r\n', 'latin1');

/** Summed CPU seconds of `pids` (those gone count as 0). */
function pidsCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
}

export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const okStatus = opts.okStatus ?? ((s: number) => s >= 200 && s < 300);
  const serverPids = [...(opts.serverPid === undefined ? [] : [opts.serverPid]), ...(opts.serverPids ?? [])];
  const serverCpuNow = () => (serverPids.length === 0 ? undefined : pidsCpuSeconds(serverPids));
  let groupPids: Record<string, number[]> = {};
  const groupAtStart: Record<string, number> = {};
  const groupAtEnd: Record<string, number> = {};
  const inspectEvery = opts.inspectEvery ?? 1000;
  const latency = new LatencyHistogram();
  const statuses: Record<number, number> = {};
  let requests = 0;
  let errors = 0;
  let bytes = 0;
  let completed = 0;
  let exhausted = false;
  let stopping = false;
  let lastCompletion = 0;
  const t0 = performance.now();
  const measureStart = t0 + opts.warmupMs;
  const measureEnd = measureStart + opts.durationMs;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let serverCpuAtStart: number | undefined;
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  let serverCpuAtEnd: number | undefined;
  let windowEnd = measureEnd;
  let machineAtStart: number | undefined;
  let machineAtEnd: number | undefined;
  const mark = () => {
    cpuAtEnd = process.cpuUsage(cpuAtStart);
    machineAtEnd = machineBusySeconds();
    serverCpuAtEnd = serverCpuNow();
    for (const [name, pids] of Object.entries(groupPids)) groupAtEnd[name] = pidsCpuSeconds(pids);
    windowEnd = performance.now();
    opts.onWindow?.('end');
  };
  const startTimer = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    machineAtStart = machineBusySeconds();
    serverCpuAtStart = serverCpuNow();
    groupPids = Object.fromEntries(Object.entries(opts.groups ?? {}).map(([name, pids]) => [name, pids()]));
    for (const [name, pids] of Object.entries(groupPids)) groupAtStart[name] = pidsCpuSeconds(pids);
    opts.onWindow?.('start');
  }, opts.warmupMs);

  return new Promise<LoadResult>((resolve, reject) => {
    let open = 0;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      stopping = true;
      for (const s of sockets) s.destroy();
      reject(err);
    };
    const finish = () => {
      if (failed) return;
      const end = exhausted ? Math.min(measureEnd, Math.max(lastCompletion, measureStart)) : measureEnd;
      const seconds = Math.max(1e-9, (end - measureStart) / 1000);
      const cpuSeconds = Math.max(1e-9, (windowEnd - measureStart) / 1000);
      const generatorCpu =
        cpuAtStart === undefined || cpuAtEnd === undefined
          ? 0
          : (cpuAtEnd.user + cpuAtEnd.system) / 1e6 / cpuSeconds;
      const serverCpu =
        serverCpuAtStart === undefined || serverCpuAtEnd === undefined
          ? undefined
          : (serverCpuAtEnd - serverCpuAtStart) / cpuSeconds;
      const groupCpu: Record<string, number> = {};
      for (const name of Object.keys(groupPids)) {
        groupCpu[name] = ((groupAtEnd[name] ?? 0) - (groupAtStart[name] ?? 0)) / cpuSeconds;
      }
      const groupsTotal = Object.values(groupCpu).reduce((a, b) => a + b, 0);
      const otherCpu =
        machineAtStart === undefined || machineAtEnd === undefined || serverCpu === undefined
          ? undefined
          : Math.max(
              0,
              (machineAtEnd - machineAtStart) / cpuSeconds - serverCpu - generatorCpu - groupsTotal,
            );
      resolve({
        requests,
        errors,
        statuses,
        seconds,
        perSecond: requests / seconds,
        bytesPerSecond: bytes / seconds,
        latency,
        exhausted,
        generatorCpu,
        serverCpu,
        otherCpu,
        groupCpu,
      });
    };
    const sockets: Socket[] = [];
    const stopTimer = setTimeout(() => {
      stopping = true;
      mark();
    }, measureEnd - t0);

    const start = (socket: Socket, conn: number) => {
      let sentAt = 0;
      let head: Buffer | undefined;
      let remaining = -1;
      let status = 0;
      let size = 0;
      let capture: Buffer[] | undefined;
      let closeAfter = false;

      const send = () => {
        if (stopping) return done();
        const req = opts.next(conn);
        if (req === undefined) {
          if (!stopping) mark();
          exhausted = true;
          stopping = true;
          return done();
        }
        sentAt = performance.now();
        socket.write(req);
      };
      const done = () => {
        socket.end();
        socket.destroy();
      };
      const complete = () => {
        const now = performance.now();
        completed++;
        if (capture !== undefined) {
          opts.inspect?.(status, Buffer.concat(capture));
          capture = undefined;
        }
        if (sentAt >= measureStart && now <= measureEnd) {
          requests++;
          bytes += size;
          latency.record((now - sentAt) * 1000);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (!okStatus(status)) errors++;
          lastCompletion = now;
        }
        if (closeAfter) return fail(new Error(`the server closed the connection (status ${status})`));
        send();
      };

      socket.on('data', (chunk: Buffer) => {
        let data = chunk;
        let off = 0;
        while (off < data.length) {
          if (remaining < 0) {
            const buf = head === undefined ? data.subarray(off) : Buffer.concat([head, data.subarray(off)]);
            const idx = buf.indexOf(headerEnd);
            if (idx < 0) {
              head = Buffer.from(buf);
              return;
            }
            head = undefined;
            status = (buf[9]! - 48) * 100 + (buf[10]! - 48) * 10 + (buf[11]! - 48);
            const headers = buf.toString('latin1', 0, idx).toLowerCase();
            const cl = headers.indexOf('\r\ncontent-length:');
            if (cl < 0) return fail(new Error(`response without content-length: ${headers}`));
            remaining = Number.parseInt(headers.slice(cl + 17, headers.indexOf('\r\n', cl + 2) >>> 0), 10);
            closeAfter = headers.includes('\r\nconnection: close');
            size = idx + 4 + remaining;
            if (opts.inspect !== undefined && completed % inspectEvery === 0) capture = [];
            data = buf;
            off = idx + 4;
            if (remaining === 0) {
              remaining = -1;
              complete();
              continue;
            }
          }
          const take = Math.min(remaining, data.length - off);
          capture?.push(Buffer.from(data.subarray(off, off + take)));
          remaining -= take;
          off += take;
          if (remaining === 0) {
            remaining = -1;
            complete();
          }
        }
      });
      send();
    };

    for (let i = 0; i < opts.connections; i++) {
      const port = opts.ports === undefined ? opts.port : opts.ports[i % opts.ports.length]!;
      const socket = connect({ host: opts.host ?? '127.0.0.1', port, noDelay: true });
      sockets.push(socket);
      open++;
      socket.on('connect', () => start(socket, i));
      socket.on('error', (err) => {
        if (!stopping) fail(err);
      });
      socket.on('close', () => {
        open--;
        if (!stopping) fail(new Error('the server closed a connection during the run'));
        if (open === 0) {
          clearTimeout(stopTimer);
          clearTimeout(startTimer);
          finish();
        }
      });
    }
  });
}
