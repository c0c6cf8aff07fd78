import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Linux /proc readings for benches: resident memory of a process, processes by name, and the
 * PostgreSQL backends serving a process's connections (so their CPU is counted, and not that of
 * other clients of the same server). All return empty answers off Linux.
 */

/** Resident set size of `pid` in bytes (VmRSS), or undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

function processes(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

/** Pids whose command name (/proc/<pid>/comm) is `name`. */
export function pidsByName(name: string): number[] {
  return processes().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m !== null) out.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return out;
}

interface TcpRow {
  local: number;
  remote: number;
  inode: string;
}

function tcpRows(): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      rows.push({
        local: Number.parseInt(f[1]!.split(':')[1]!, 16),
        remote: Number.parseInt(f[2]!.split(':')[1]!, 16),
        inode: f[9]!,
      });
    }
  }
  return rows;
}

/**
 * Pids of the server processes (named `serverName`, listening on `serverPort`) at the other end
 * of the TCP connections that `clients` hold to that port: e.g. the PostgreSQL backends of a
 * node's connection pool.
 */
export function peersOf(clients: readonly number[], serverPort: number, serverName: string): number[] {
  const rows = tcpRows();
  const mine = new Set(clients.flatMap((pid) => [...socketInodes(pid)]));
  const clientPorts = new Set(
    rows.filter((r) => r.remote === serverPort && mine.has(r.inode)).map((r) => r.local),
  );
  const serverInodes = new Set(
    rows.filter((r) => r.local === serverPort && clientPorts.has(r.remote)).map((r) => r.inode),
  );
  return pidsByName(serverName).filter((pid) => {
    for (const inode of socketInodes(pid)) if (serverInodes.has(inode)) return true;
    return false;
  });
}
