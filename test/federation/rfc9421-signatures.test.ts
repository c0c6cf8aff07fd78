import { createPrivateKey, sign as edSign } from 'node:crypto';
import { httpbis } from 'http-message-signatures';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { contentDigest, signPeerRequest, verifyPeerRequest } from '../../src/federation/http-signature.js';
import { Federation } from '../support/federation.js';
import v from '../vectors/rfc9421-ed25519.json' with { type: 'json' };

describe('RFC 9421 HTTP Message Signatures', () => {
  it('reproduces Appendix B.2.6 (ed25519) byte for byte', async () => {
    const key = createPrivateKey({ key: { ...v.key }, format: 'jwk' });
    let base = '';
    const signed = await httpbis.signMessage(
      {
        key: {
          id: v.keyid,
          sign: async (data: Buffer) => {
            base = data.toString();
            return edSign(null, data, key);
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
      { id: over.id ?? 'dp1', key: (over.key ?? fed.dpKey).privateKey },
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
});
