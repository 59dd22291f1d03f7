// openid-client (the OpenID-certified relying party library) against braid, driven by braid's
// interop test in two steps around the browser part, which the test walks itself:
//
//   node rp.mjs start  '<config JSON>'                    -> {url, verifier, state, nonce}
//   node rp.mjs finish '<config JSON>' '<callback URL>' '<verifier>' '<state>' '<nonce>'
//        -> {claims, userinfo, rotated, refreshed_claims, revoked_refresh_error, logout_url}
//
// The config names the issuer, the client and the variant under test:
//   {issuer, client_id, client_secret, redirect_uri, post_logout_redirect_uri,
//    auth_method: "client_secret_basic" | "client_secret_post" | "private_key_jwt",
//    alg: "RS256" | "ES256" | "EdDSA" (id_token_signed_response_alg), par: bool,
//    private_key_jwk (private_key_jwt only)}
// Everything that can be checked is checked by the library itself (state, iss, nonce, the ID
// token's signature, alg, aud, exp, at_hash when present, the userinfo sub); a failure exits 1
// with the library's error on stderr.
import * as client from 'openid-client';

const [, , step, configJson, ...rest] = process.argv;
const cfg = JSON.parse(configJson);

// The client's private key (a P-256 or Ed25519 JWK) as the CryptoKey openid-client signs with.
async function importPrivateKey(jwk) {
  const algorithm = jwk.kty === 'OKP' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: jwk.crv };
  const { alg: _alg, kid: _kid, ...material } = jwk;
  return crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
}

const privateKey = cfg.private_key_jwk ? await importPrivateKey(cfg.private_key_jwk) : undefined;

function clientAuth() {
  switch (cfg.auth_method) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(cfg.client_secret);
    case 'client_secret_post':
      return client.ClientSecretPost(cfg.client_secret);
    case 'private_key_jwt':
      return client.PrivateKeyJwt({ key: privateKey, kid: cfg.private_key_jwk.kid });
    default:
      throw new Error(`unknown auth_method ${cfg.auth_method}`);
  }
}

async function configuration() {
  // braid in the tests speaks plain HTTP on loopback.
  return client.discovery(
    new URL(cfg.issuer),
    cfg.client_id,
    { id_token_signed_response_alg: cfg.alg || 'RS256' },
    clientAuth(),
    { execute: [client.allowInsecureRequests] },
  );
}

const config = await configuration();
const scope = cfg.scope || 'openid profile email offline_access';

if (step === 'start') {
  const verifier = client.randomPKCECodeVerifier();
  const params = {
    redirect_uri: cfg.redirect_uri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
  };
  const url = cfg.par
    ? await client.buildAuthorizationUrlWithPAR(config, params)
    : client.buildAuthorizationUrl(config, params);
  console.log(JSON.stringify({ url: url.href, verifier, state: params.state, nonce: params.nonce }));
} else if (step === 'finish') {
  const [callback, verifier, state, nonce] = rest;
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const rotated = typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== tokens.refresh_token;
  await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
  let revokedRefreshError = null;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
  } catch (e) {
    revokedRefreshError = e.error ?? String(e);
  }
  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: cfg.post_logout_redirect_uri,
    state: 'bye-state',
  });
  console.log(
    JSON.stringify({
      claims,
      userinfo,
      rotated,
      refreshed_claims: refreshed.claims() ?? null,
      revoked_refresh_error: revokedRefreshError,
      logout_url: logout.href,
    }),
  );
} else {
  throw new Error(`unknown step ${step}`);
}
