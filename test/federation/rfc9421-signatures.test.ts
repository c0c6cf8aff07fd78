import { httpbis } from 'http-message-signatures';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyPairFromJwk } from '../../src/crypto/keys.js';
import { digest } from '../../src/crypto/sign.js';
import {
  contentDigest,
  peerSignatureFields,
  signPeerRequest,
  targetUri,
  verifyPeerRequest,
} from '../../src/federation/http-signature.js';
import { Registry, signRegistry } from '../../src/registry/document.js';
import { Federation, freshDpKeys } from '../support/federation.js';
import { startNoticeHook } from '../support/notice-hook.js';
import v from '../vectors/rfc9421-ed25519.json' with { type: 'json' };

describe('RFC 9421 HTTP Message Signatures', () => {
  it('reproduces Appendix B.2.6 (ed25519) byte for byte', async () => {
    const key = keyPairFromJwk(v.key).privateKey;
    let base = '';
    const signed = await httpbis.signMessage(
      {
        key: {
          id: v.keyid,
          sign: async (data: Buffer) => {
            base = data.toString();
            return Buffer.from(key.sign(data));
          },
        },
        name: 'sig-b26',
        fields: v.fields,
        params: ['created', 'keyid'],
        paramValues: { created: new Date(v.created * 1000) },
      },
      { method: v.request.method, url: v.request.url, headers: { ...v.request.headers } },
    );
    expect(base).toBe(v.signatureBase);
    const headers = signed.headers as Record<string, string>;
    expect(headers['Signature-Input'] ?? headers['signature-input']).toBe(v.signatureInput);
    expect(headers.Signature ?? headers.signature).toBe(v.signature);
  });
});

describe('DP-to-DP request signatures', () => {
  const fed = new Federation();
  const url = 'https://dp2.example/v1/federation/lookup';
  const body = JSON.stringify({ v: 1, csis: ['tel:+14155550101'] });
  const now = () => new Date(fed.clock.now() * 1000);
  const sign = (over: { key?: ReturnType<typeof generateKeyPair>; id?: string; created?: Date } = {}) =>
    signPeerRequest(
      { method: 'POST', url, body },
      { id: over.id ?? 'dp1', key: (over.key ?? fed.dpKeys.transport).privateKey },
      { created: over.created ?? now() },
    );
  const receive = (
    s: Awaited<ReturnType<typeof sign>>,
    changes: { rawBody?: string; url?: string; headers?: Record<string, string> } = {},
  ) =>
    verifyPeerRequest(
      {
        method: s.method,
        url: changes.url ?? s.url,
        headers: { ...s.headers, ...changes.headers },
        rawBody: changes.rawBody ?? s.body,
      },
      fed.registry,
      now(),
    );

  it('verifies a request signed by a registered DP and names it', async () => {
    const s = await sign();
    expect(s.headers['content-digest']).toBe(contentDigest(body));
    await expect(receive(s)).resolves.toMatchObject({ dp: 'dp1' });
  });

  it('refuses a tampered body, another URL, an unknown or impersonated DP, and an old signature', async () => {
    const s = await sign();
    await expect(receive(s, { rawBody: body.replace('0101', '0102') })).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(receive(s, { url: 'https://dp2.example/v1/federation/events' })).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(receive(await sign({ id: 'dp9' }))).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(receive(await sign({ key: generateKeyPair() }))).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(receive(await sign({ created: new Date(now().getTime() - 600_000) }))).rejects.toMatchObject(
      {
        code: 'unauthenticated',
      },
    );
  });

  it('refuses an unsigned request and a truncated signature', async () => {
    const s = await sign();
    const bare = Object.fromEntries(
      Object.entries(s.headers).filter(([k]) => !k.toLowerCase().startsWith('signature')),
    );
    await expect(
      verifyPeerRequest({ method: 'POST', url, headers: bare, rawBody: body }, fed.registry, now()),
    ).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    const [name, value] = Object.entries(s.headers).find(([k]) => k.toLowerCase() === 'signature')!;
    await expect(receive(s, { headers: { [name]: `${value.slice(0, 40)}:` } })).rejects.toMatchObject({
      code: 'unauthenticated',
    });
  });

  /** The same registry with dp3 in it too (a DP whose name an attacker borrows). */
  const withDp3 = () => {
    const dp3 = generateKeyPair();
    const unsigned = {
      ...fed.unsigned,
      dps: [
        ...fed.unsigned.dps,
        {
          ...fed.unsigned.dps[0]!,
          id: 'dp3',
          endpoint: 'https://dp3.example',
          keys: { ...freshDpKeys(), transport: [dp3.publicKey] },
        },
      ],
    };
    return Registry.open(signRegistry(unsigned, fed.registryKey.privateKey), fed.registryKey.publicKey, {
      now: fed.clock.now(),
    });
  };
  const field = (h: Record<string, string>, name: string) =>
    Object.keys(h).find((k) => k.toLowerCase() === name)!;
  /** Replaces the two signature fields. */
  const rewrite = (
    s: Awaited<ReturnType<typeof sign>>,
    edit: (input: string, signature: string) => [string, string],
  ) => {
    const si = field(s.headers, 'signature-input');
    const sg = field(s.headers, 'signature');
    const [input, signature] = edit(s.headers[si]!, s.headers[sg]!);
    return { ...s, headers: { ...s.headers, [si]: input, [sg]: signature } };
  };
  const appended = (keyid: string, nonce = 'n1') =>
    `x=("@method");created=${Math.floor(now().getTime() / 1000)};keyid="${keyid}";alg="hmac-sha256";nonce="${nonce}"`;
  /** A signature by dp1 made directly with the package, with what the profile may not allow. */
  const signRaw = async (opts: { fields?: string[]; params?: string[]; expires?: Date; name?: string }) => {
    const created = now();
    const signed = await httpbis.signMessage(
      {
        key: {
          id: 'dp1',
          alg: 'ed25519',
          sign: async (data: Buffer) => Buffer.from(fed.dpKeys.transport.privateKey.sign(data)),
        },
        name: opts.name ?? 'mimi',
        fields: opts.fields ?? [...peerSignatureFields],
        params: opts.params ?? ['created', 'expires', 'keyid', 'alg', 'nonce'],
        paramValues: {
          created,
          expires: opts.expires ?? new Date(created.getTime() + 60_000),
          nonce: 'abcdefghijklmnop0123',
        },
      },
      {
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', 'content-digest': contentDigest(body) },
      },
    );
    return { method: 'POST', url, headers: signed.headers as Record<string, string>, body };
  };

  it('Security 3: a second entry beside the valid one is refused, whatever keyid it names', async () => {
    const registry = withDp3();
    const s = await sign();
    for (const keyid of ['dp3', 'ghost', 'dp1']) {
      const forged = rewrite(s, (i, g) => [`${i}, ${appended(keyid)}`, `${g}, x=:AAAA:`]);
      await expect(
        verifyPeerRequest({ ...forged, rawBody: body }, registry, now()),
        keyid,
      ).rejects.toMatchObject({ code: 'unauthenticated' });
    }
    // Entries in the other order, and a second entry that verifies too (dp1 signing twice).
    const first = rewrite(s, (i, g) => [`${appended('dp3')}, ${i}`, `x=:AAAA:, ${g}`]);
    await expect(receive(first)).rejects.toMatchObject({ code: 'unauthenticated' });
    const twice = await httpbis.signMessage(
      {
        key: {
          id: 'dp1',
          alg: 'ed25519',
          sign: async (data: Buffer) => Buffer.from(fed.dpKeys.transport.privateKey.sign(data)),
        },
        name: 'mimi',
        fields: [...peerSignatureFields],
        params: ['created', 'expires', 'keyid', 'alg', 'nonce'],
        paramValues: {
          created: now(),
          expires: new Date(now().getTime() + 60_000),
          nonce: 'qrstuvwxyz0123456789',
        },
      },
      { method: 'POST', url, headers: { ...s.headers } },
    );
    await expect(receive({ ...s, headers: twice.headers as Record<string, string> })).rejects.toMatchObject({
      code: 'unauthenticated',
    });
  });

  it('only the profile: one member labelled mimi in both fields; repeats and other labels are refused', async () => {
    const s = await sign();
    const relabel = (v: string, label: string) => v.replace(/^mimi=/, `${label}=`);
    // Another label in both fields.
    await expect(receive(rewrite(s, (i, g) => [relabel(i, 'sig'), relabel(g, 'sig')]))).rejects.toMatchObject(
      {
        code: 'unauthenticated',
      },
    );
    // Labels that do not match.
    await expect(receive(rewrite(s, (i, g) => [i, relabel(g, 'sig')]))).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    // The label repeated: RFC 8941 would keep the last member; the profile refuses both.
    const other = await sign();
    const [oi, og] = [
      other.headers[field(other.headers, 'signature-input')]!,
      other.headers[field(other.headers, 'signature')]!,
    ];
    await expect(receive(rewrite(s, (i, g) => [`${oi}, ${i}`, `${og}, ${g}`]))).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    // The same field sent twice is one list (RFC 9110): two members.
    await expect(
      verifyPeerRequest(
        {
          method: 'POST',
          url,
          headers: { ...s.headers, 'SIGNATURE-INPUT': s.headers[field(s.headers, 'signature-input')]! },
          rawBody: body,
        },
        fed.registry,
        now(),
      ),
    ).rejects.toMatchObject({ code: 'unauthenticated' });
    // Not a dictionary at all.
    await expect(receive(rewrite(s, (i, g) => [i.replace(/^mimi=/, ''), g]))).rejects.toMatchObject({
      code: 'unauthenticated',
    });
  });

  it('the entry must be the whole profile: expires within the max age, ed25519, the required components', async () => {
    await expect(receive(await signRaw({}))).resolves.toMatchObject({ dp: 'dp1' });
    for (const bad of [
      { params: ['created', 'keyid', 'alg', 'nonce'] },
      { params: ['created', 'expires', 'keyid', 'nonce'] },
      { params: ['created', 'expires', 'keyid', 'alg'] },
      { expires: new Date(now().getTime() + 3_600_000) },
      { fields: ['@method', '@target-uri', 'content-digest'] },
      { fields: ['@method', '@authority', 'content-type', 'content-digest'] },
      { name: 'sig' },
    ]) {
      await expect(receive(await signRaw(bad)), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'unauthenticated',
      });
    }
    // @authority with @path instead of @target-uri is the profile too.
    await expect(
      receive(
        await signRaw({ fields: ['@method', '@authority', '@path', 'content-type', 'content-digest'] }),
      ),
    ).resolves.toMatchObject({ dp: 'dp1' });
  });

  it('an MSP notice webhook refuses a second entry, and a replayed notice', async () => {
    const hook = await startNoticeHook(() => fed.registry);
    try {
      const unsigned = {
        v: 1,
        dp: 'dp1',
        msp: 'msp1',
        kind: 'contested',
        mappingId: digest({ m: 1 }),
        deadline: fed.clock.now() + 3600,
        at: fed.clock.now(),
      };
      const notice = JSON.stringify({ ...unsigned, id: digest(unsigned) });
      const post = (h: Record<string, string>) =>
        fetch(hook.url, { method: 'POST', headers: h, body: notice }).then((r) => r.status);
      const s = await signPeerRequest(
        { method: 'POST', url: hook.url, body: notice },
        { id: 'dp1', key: fed.dpKeys.transport.privateKey },
      );
      const forged = rewrite({ ...s, body }, (i, g) => [`${i}, ${appended('ghost')}`, `${g}, x=:AAAA:`]);
      expect(await post(forged.headers)).toBe(401);
      expect(hook.notices).toEqual([]);
      expect(await post(s.headers)).toBe(204);
      expect(await post(s.headers)).toBe(401);
      expect(hook.notices.map((n) => n.from)).toEqual(['dp1']);
    } finally {
      hook.close();
    }
  });

  it("the target URI is the node's own endpoint with the request's path and query only", () => {
    expect(targetUri('https://dp3.example', '/v1/federation/lookup?a=1')).toBe(
      'https://dp3.example/v1/federation/lookup?a=1',
    );
    // An absolute-form or `//host` request target names no authority here.
    for (const target of ['https://dp1.example/v1/federation/lookup', '//dp1.example/v1/federation/lookup']) {
      expect(targetUri('https://dp3.example', target)).toBe('https://dp3.example/v1/federation/lookup');
    }
  });
});
