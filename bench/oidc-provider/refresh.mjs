// node oidc-provider as the peer of braid's refresh bench (scripts/bench --compare).
// Usage: node refresh.mjs <port> <RS256|ES256> <grants>
// One confidential client (client_secret_basic) with the refresh_token grant, refresh tokens
// rotated on every use (rotateRefreshToken: true), ID tokens and JWT access tokens signed with
// the given algorithm, the package's default in-memory adapter. At start it mints <grants>
// grants, each with one refresh token (scopes openid email offline_access and the API's scope),
// straight through the provider's models, and prints one JSON line on stdout:
// {"issuer": "...", "refresh_tokens": ["...", ...]}.
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const [port, alg, count] = [process.argv[2], process.argv[3] ?? "RS256", Number(process.argv[4] ?? 32)];
const issuer = `http://127.0.0.1:${port}`;
const resource = "urn:bench:api";
const jwk = (type, opts, alg) => ({
  ...generateKeyPairSync(type, opts).privateKey.export({ format: "jwk" }),
  alg,
  use: "sig",
  kid: alg.toLowerCase(),
});
const provider = new Provider(issuer, {
  clients: [{
    client_id: "bench",
    client_secret: "bench-secret-0123456789abcdef0123456789",
    redirect_uris: ["http://127.0.0.1:9/cb"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: alg,
  }],
  jwks: {
    keys: [jwk("rsa", { modulusLength: 2048 }, "RS256"), jwk("ec", { namedCurve: "P-256" }, "ES256")],
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: `${id}@example.com`, email_verified: true }; } };
  },
  rotateRefreshToken: true,
  ttl: { AccessToken: 300, IdToken: 300, Grant: 14 * 86400, RefreshToken: 14 * 86400 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: "api", accessTokenFormat: "jwt", jwt: { sign: { alg } } }),
    },
  },
});

const client = await provider.Client.find("bench");
const scope = "openid email offline_access api";
const tokens = [];
for (let i = 0; i < count; i += 1) {
  const accountId = `refresher${i}`;
  const grant = new provider.Grant({ clientId: "bench", accountId });
  grant.addOIDCScope("openid email offline_access");
  grant.addResourceScope(resource, "api");
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    scope,
    resource,
    gty: "authorization_code",
    authTime: Math.floor(Date.now() / 1000),
    iiat: Math.floor(Date.now() / 1000),
  });
  tokens.push(await rt.save());
}
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(JSON.stringify({ issuer, refresh_tokens: tokens }));
});
