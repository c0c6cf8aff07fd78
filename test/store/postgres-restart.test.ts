import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJwkFile } from '../../src/cli/devnet-files.js';
import type { MspAgent } from '../../src/client/msp-agent.js';
import type { MappingSubmission } from '../../src/protocol/records.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { Condition } from '../support/condition.js';
import { freePort, type RunningDevnet, startDevnet } from '../support/devnet.js';
import { postgresAvailable } from '../support/stores.js';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of this test's own (initdb in a temporary folder, its own port and socket
 * folder, trust auth), so stopping it never disturbs the shared server other test files use.
 * The binaries run as the postgres user: initdb and the server refuse to run as root.
 */
class PrivateCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'mimi-pgrestart-'));
  readonly data = join(this.dir, 'data');

  constructor(
    private readonly bin: string,
    private readonly runuser: string,
    readonly port: number,
  ) {}

  static binaries(): string | undefined {
    const root = '/usr/lib/postgresql';
    if (!existsSync(root)) return undefined;
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private as(tool: string, args: string[]) {
    return run(this.runuser, ['-u', 'postgres', '--', join(this.bin, tool), ...args], { timeout: 60_000 });
  }

  async init(): Promise<void> {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(this.dir, Number(stdout.trim()), Number(gid.trim()));
    await this.as('initdb', ['-D', this.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  }

  start(): Promise<unknown> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`;
    return this.as('pg_ctl', [
      '-D',
      this.data,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      options,
      '-w',
      'start',
    ]);
  }

  /** A crash, as far as clients can tell: every backend killed, no checkpoint. */
  stopImmediate(): Promise<unknown> {
    return this.as('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
  }

  async remove(): Promise<void> {
    await this.stopImmediate().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const bin = PrivateCluster.binaries();
const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
const available = postgresAvailable() && bin !== undefined && runuser !== undefined;
if (postgresAvailable() && !available) {
  console.warn(
    'PostgreSQL restart test SKIPPED: no initdb/pg_ctl in /usr/lib/postgresql/*/bin, or no runuser',
  );
}

interface Outcome {
  phase: 'before' | 'down' | 'after';
  kind: 'submit' | 'lookup';
  status: number | 'hang' | 'network';
  code?: string;
  retryAfter?: string | null;
}

/**
 * Issue 6, "PostgreSQL restart during load": a node on PostgreSQL keeps taking mapping
 * submissions and lookups while the database is stopped (-m immediate) and started again. While
 * it is down every failing request is a 503 `store-unavailable` with Retry-After (never a 500,
 * never a hang); once it is back requests succeed without restarting the node; every mapping
 * acknowledged (201) at any time is served afterwards.
 */
describe.skipIf(!available)('PostgreSQL restarted under load', { timeout: 120_000 }, () => {
  let cluster: PrivateCluster;
  let net: RunningDevnet;
  let msp: MspAgent;

  beforeAll(async () => {
    cluster = new PrivateCluster(bin!, runuser!, await freePort());
    await cluster.init();
    await cluster.start();
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.store = { backend: 'postgres', url: cluster.url, poolSize: 6, connectionTimeoutMs: 2000 };
          // The readers look up as fast as they can: MSP lookup budgets (R22) are not what this tests.
          c.limits = { ...c.limits, mspLookupPerMinute: 10_000_000, mspLookupPerDay: 100_000_000 };
        },
      },
    );
    msp = net.msp('msp1');
  }, 120_000);
  afterAll(async () => {
    await net?.close();
    await cluster?.remove();
  });

  it('fails cleanly with store-unavailable while down, recovers by itself, loses nothing acknowledged', async () => {
    const vKey = readJwkFile(join(net.layout.dir, 'keys', 'verifier1.jwk'));
    const subs: MappingSubmission[] = [];
    for (let i = 0; i < 400; i++) {
      const csi = `tel:+1415556${String(1000 + i)}`;
      const holder = net.holder();
      const attestation = signAttestation(
        {
          csi,
          holderKey: holder.publicKey,
          method: 'sms-otp',
          issuer: 'verifier1',
          issuedAt: net.clock.now(),
          lifetimeSeconds: 86_400,
        },
        vKey.privateKey,
      );
      subs.push(
        await msp.confirm(
          holder.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/r${i}`, attestation }),
        ),
      );
    }
    const token = await msp.sessionToken();
    let phase: Outcome['phase'] = 'before';
    const outcomes: Outcome[] = [];
    const acknowledged: string[] = [];

    const request = async (kind: Outcome['kind'], path: string, body: unknown): Promise<Outcome> => {
      const at = phase;
      try {
        const res = await fetch(new URL(path, net.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
          // Far above the pool's 2 s connection timeout: reaching it means the node hung.
          signal: AbortSignal.timeout(20_000),
        });
        const json = (await res.json()) as { code?: string };
        return {
          phase: at,
          kind,
          status: res.status,
          code: json.code,
          retryAfter: res.headers.get('retry-after'),
        };
      } catch (err) {
        return { phase: at, kind, status: (err as Error).name === 'TimeoutError' ? 'hang' : 'network' };
      }
    };

    // Waits on the outcomes: each condition is checked again as each request ends.
    const outcome = new Condition();
    const until = (cond: () => boolean) => outcome.until(cond);

    let stop = false;
    const queue = [...subs];
    const submitter = async () => {
      while (!stop) {
        const sub = queue.shift();
        if (sub === undefined) return;
        const o = await request('submit', '/v1/mappings', sub);
        outcomes.push(o);
        // 200: a resubmission of one whose commit outcome was unknown, found stored (idempotent).
        if (o.status === 201 || o.status === 200) acknowledged.push(sub.body.csi);
        else if (o.status === 503) queue.push(sub); // retryable: offered again later
        outcome.changed();
      }
    };
    const reader = async () => {
      while (!stop) {
        const csis = acknowledged.slice(-5);
        outcomes.push(
          await request('lookup', '/v1/lookup', {
            v: 1,
            csis: csis.length > 0 ? csis : ['tel:+14155550100'],
          }),
        );
        outcome.changed();
        // Paces the load (a failing lookup answers at once); nothing is waited for.
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const count = (p: Outcome['phase'], pred: (o: Outcome) => boolean) =>
      outcomes.filter((o) => o.phase === p && pred(o)).length;

    const load = Promise.all([submitter(), submitter(), submitter(), reader(), reader()]);
    await until(() => acknowledged.length >= 30);
    phase = 'down';
    await cluster.stopImmediate();
    // Both kinds of request have failed a few times against the stopped database.
    await until(
      () =>
        count('down', (o) => o.kind === 'submit' && o.status !== 201) >= 5 &&
        count('down', (o) => o.kind === 'lookup' && o.status !== 200) >= 5,
    );
    // Readiness says so too, with the same code; liveness does not (no restart wanted).
    const notReady = await fetch(new URL('/readyz', net.url));
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { code: string }).code).toBe('store-unavailable');
    expect((await fetch(new URL('/healthz', net.url))).status).toBe(200);
    await cluster.start();
    phase = 'after';
    const ackedBefore = acknowledged.length;
    await until(
      () =>
        count('after', (o) => o.kind === 'submit' && o.status === 201) >= 20 &&
        count('after', (o) => o.kind === 'lookup' && o.status === 200) >= 20,
    );
    stop = true;
    await load;

    // While down (and in the moments around it): only successes or retryable 503s, with Retry-After.
    const failures = outcomes.filter((o) => o.status !== 200 && o.status !== 201);
    expect(failures.length).toBeGreaterThanOrEqual(10);
    for (const f of failures) {
      expect(f).toMatchObject({ status: 503, code: 'store-unavailable' });
      expect(Number(f.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(outcomes.some((o) => o.status === 500 || o.status === 'hang')).toBe(false);
    // Back without restarting the node.
    expect(acknowledged.length).toBeGreaterThan(ackedBefore);

    // Every acknowledged mapping is served, before, during and after the outage.
    const served: string[] = [];
    for (let i = 0; i < acknowledged.length; i += 50) {
      const results = await msp.lookup(acknowledged.slice(i, i + 50));
      served.push(...results.filter((r) => r.status === 'one').map((r) => r.csi));
    }
    expect(served.sort()).toEqual([...acknowledged].sort());
    // The readiness check saw the store come back too.
    const ready = await fetch(new URL('/readyz', net.url));
    expect(ready.status).toBe(200);
    expect(readFileSync(join(cluster.dir, 'server.log'), 'utf8')).toContain('database system is ready');
  });
});
