import { createHash, sign as edSign, type KeyObject, randomBytes } from 'node:crypto';
import { httpbis } from 'http-message-signatures';
import { verifyEd25519 } from '../crypto/sign.js';
import { MimiError } from '../protocol/errors.js';
import type { Registry } from '../registry/document.js';

/**
 * R23: DP-to-DP calls are signed with the DP's registry key as HTTP Message Signatures (RFC 9421,
 * alg ed25519) over the method, target URI, content type and an RFC 9530 Content-Digest of the
 * body, with created time, nonce and keyid = the DP id. The signature base and structured
 * fields come from the http-message-signatures package, pinned by RFC 9421 Appendix B.2.6.
 */
export const peerSignatureFields = ['@method', '@target-uri', 'content-type', 'content-digest'] as const;
const signatureName = 'mimi';

/** RFC 9530 Content-Digest with SHA-256. */
export function contentDigest(body: string | Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export async function signPeerRequest(
  req: { method: string; url: string; body: string },
  signer: { id: string; key: KeyObject },
  opts: { created?: Date; nonce?: string } = {},
): Promise<SignedRequest> {
  const message = {
    method: req.method,
    url: req.url,
    headers: { 'content-type': 'application/json', 'content-digest': contentDigest(req.body) } as Record<
      string,
      string
    >,
  };
  const signed = await httpbis.signMessage(
    {
      key: { id: signer.id, alg: 'ed25519', sign: async (data: Buffer) => edSign(null, data, signer.key) },
      name: signatureName,
      fields: [...peerSignatureFields],
      params: ['created', 'expires', 'keyid', 'alg', 'nonce'],
      paramValues: {
        created: opts.created ?? new Date(),
        expires: new Date((opts.created ?? new Date()).getTime() + 60_000),
        nonce: opts.nonce ?? randomBytes(16).toString('base64url'),
      },
    },
    message,
  );
  return {
    method: req.method,
    url: req.url,
    headers: signed.headers as Record<string, string>,
    body: req.body,
  };
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
}

/**
 * Checks a peer's signed request: the digest matches the body, the signature covers what we
 * require and verifies with a key of the registry DP named by keyid, and it is fresh. Returns the
 * DP id and the nonce (the caller refuses a nonce it has seen: replay).
 */
export async function verifyPeerRequest(
  req: ReceivedRequest,
  registry: Registry,
  now: Date,
): Promise<{ dp: string; nonce: string }> {
  const digest = req.headers['content-digest'];
  if (typeof digest !== 'string' || digest !== contentDigest(req.rawBody)) {
    throw new MimiError(
      'unauthenticated',
      'peer request: Content-Digest is missing or does not match the body',
    );
  }
  let keyid: string | undefined;
  let nonce: string | undefined;
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = v;
  let ok: boolean | null;
  try {
    ok = await httpbis.verifyMessage(
      {
        keyLookup: async (params) => {
          keyid = typeof params.keyid === 'string' ? params.keyid : undefined;
          nonce = typeof params.nonce === 'string' ? params.nonce : undefined;
          const dp = keyid === undefined ? undefined : registry.dp(keyid);
          if (dp === undefined || params.alg !== 'ed25519') return null;
          return {
            id: dp.id,
            algs: ['ed25519'],
            verify: async (data: Buffer, signature: Buffer) =>
              dp.keys.some((k) => verifyEd25519(data, signature, k)),
          };
        },
        requiredFields: [...peerSignatureFields],
        requiredParams: ['created', 'keyid', 'alg', 'nonce'],
        maxAge: 120,
        tolerance: 30,
        notAfter: now,
      },
      { method: req.method, url: req.url, headers },
    );
  } catch (err) {
    throw new MimiError('unauthenticated', `peer request signature refused: ${(err as Error).message}`);
  }
  if (ok !== true || keyid === undefined || nonce === undefined) {
    throw new MimiError('unauthenticated', 'peer request is not signed by a registered DP');
  }
  return { dp: keyid, nonce };
}
