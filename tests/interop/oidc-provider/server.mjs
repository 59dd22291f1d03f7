// An independent OpenID Provider (oidc-provider, certified) on loopback for braid's interop
// tests. Usage: node server.mjs <port> <braid redirect_uri>
// Any login name is accepted by its development interactions; the account's claims follow it.
import Provider from "oidc-provider";

const [port, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: "braid",
    client_secret: "braid-interop-secret",
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@op.example`, email_verified: true, name: `Person ${id}` };
      },
    };
  },
  // The scopes' claims go into the ID token too (not only userinfo): braid takes the subject and
  // the verified-email decision from the signed ID token alone.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
