import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeFromOutbox } from '../../src/cli/devnet-access.js';
import {
  type DevnetLayout,
  type DevnetOptions,
  readDevnet,
  readJwkFile,
  writeDevnet,
} from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import type { CsipEvent, PossessionAttestation } from '../../src/protocol/records.js';
import type { Registry } from '../../src/registry/document.js';
import { RegistrySource } from '../../src/registry/source.js';
import type { NodeConfig } from '../../src/server/config.js';
import { freePort } from './devnet.js';
import { kill9, startNode } from './node-process.js';

/** Waits until `check` returns something truthy, polling; throws after `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  ms = 10_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The parties around a devnet's DPs (MSPs, holders, the CSIP), for DPs that run in child
 * processes (DpProcesses) or in the test process (DpNodes, test/support/dp-nodes.ts).
 */
export abstract class DevnetParties {
  readonly layout: DevnetLayout;

  protected constructor(layout: DevnetLayout) {
    this.layout = layout;
  }

  protected abstract registry(): Registry;
  /** The clock the parties sign with: the wall clock with processes, the shared test clock in-process. */
  protected abstract now(): number;
  /** The newest one-time code dp1's verifier sent to `csi`. */
  protected abstract codeFor(csi: string): Promise<string | undefined>;

  endpoint(dp: string): string {
    return this.layout.dps.find((d) => d.id === dp)!.endpoint;
  }

  /** The MSP's agent, talking to its home DP (or `dp`). */
  msp(id: string, dp?: string): MspAgent {
    const m = this.layout.msps.find((x) => x.id === id)!;
    const home = dp ?? m.dp;
    return new MspAgent({
      id,
      key: readJwkFile(m.keyFile),
      dp: { id: home, baseUrl: this.endpoint(home), timeoutMs: 15_000 },
      registry: () => this.registry(),
      isOwnUser: () => true,
      now: () => this.now(),
    });
  }

  holder(): HolderClient {
    return new HolderClient({ dp: { baseUrl: this.layout.endpoint }, now: () => this.now() });
  }

  /** A whole possession challenge at dp1's verifier. */
  async prove(holder: HolderClient, csi: string): Promise<PossessionAttestation> {
    const started = await holder.startChallenge(csi);
    const code = await eventually(() => this.codeFor(csi), 5000, 'the one-time code');
    return holder.answerChallenge(started.challengeId, code);
  }

  /** Publishes a holder's mapping through an MSP at its home DP. */
  async publish(
    holder: HolderClient,
    att: PossessionAttestation,
    msp: string,
    user: string,
    tag = 'Default',
  ) {
    const agent = this.msp(msp);
    const domain = this.layout.msps.find((m) => m.id === msp)!.domain;
    return agent.submit(
      await agent.confirm(
        holder.signMapping({ csi: att.csi, msp, ssi: `mimi://${domain}/u/${user}`, tag, attestation: att }),
      ),
    );
  }

  /** A CSIP-signed number event, posted to `dp`. */
  async csipEvent(dp: string, ev: Omit<CsipEvent, 'v' | 'issuer' | 'sig'>): Promise<Response> {
    const unsigned = { v: 1 as const, issuer: 'csip1', ...ev };
    const signed = {
      ...unsigned,
      sig: signObject(SignPurpose.CsipEvent, unsigned, readJwkFile(this.layout.csip.keyFile).privateKey),
    };
    return fetch(`${this.endpoint(dp)}/v1/csip/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signed),
    });
  }
}

/** Writes a devnet folder of `count` DPs on free loopback ports, each config edited by `configure`. */
export async function writeDevnetDps(
  count: number,
  opts: Omit<DevnetOptions, 'port' | 'dps'> & {
    configure?: (dp: string, config: NodeConfig) => NodeConfig;
  } = {},
): Promise<DevnetLayout> {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-fed-'));
  const port = await freePort(count);
  const layout = writeDevnet(dir, { ...opts, port, dps: count });
  for (const dp of layout.dps) {
    if (opts.configure === undefined) break;
    const config = JSON.parse(readFileSync(dp.configFile, 'utf8')) as NodeConfig;
    writeFileSync(dp.configFile, JSON.stringify(opts.configure(dp.id, config), null, 2));
  }
  return readDevnet(dir);
}

/**
 * Several real DP processes on loopback, each with its own SQLite file, as a devnet folder
 * describes: for what needs a process (kill -9, a restart), on the wall clock.
 */
export class DpProcesses extends DevnetParties {
  private readonly children = new Map<string, ChildProcess>();
  private readonly source: RegistrySource;

  private constructor(layout: DevnetLayout) {
    super(layout);
    this.source = new RegistrySource({
      location: join(layout.dir, 'registry.json'),
      pinnedKey: layout.registryKey,
    });
  }

  static async start(count: number, opts: Parameters<typeof writeDevnetDps>[1] = {}): Promise<DpProcesses> {
    const net = new DpProcesses(await writeDevnetDps(count, opts));
    await net.source.load();
    await Promise.all(net.layout.dps.map((d) => net.startDp(d.id)));
    return net;
  }

  protected registry(): Registry {
    return this.source.current();
  }

  protected now(): number {
    return Math.floor(Date.now() / 1000);
  }

  /** The code from the dev outbox file the verifier's process writes. */
  protected async codeFor(csi: string): Promise<string | undefined> {
    return codeFromOutbox(this.layout.outboxFile, csi);
  }

  async startDp(id: string): Promise<void> {
    const dp = this.layout.dps.find((d) => d.id === id)!;
    this.children.set(id, await startNode(dp.configFile));
  }

  /** kill -9. */
  async kill(id: string): Promise<void> {
    const child = this.children.get(id);
    if (child === undefined) return;
    await kill9(child);
    this.children.delete(id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.children.keys()].map((id) => this.kill(id)));
    this.source.close();
    rmSync(this.layout.dir, { recursive: true, force: true });
  }
}
