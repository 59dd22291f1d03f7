// braid demo application: a public OIDC client running in the browser (code flow + S256 PKCE).
(function () {
  "use strict";
  const CLIENT_ID = "demo";
  const ISSUER = window.location.origin;
  const REDIRECT_URI = ISSUER + "/demo";
  const app = document.getElementById("app");
  const store = window.sessionStorage;

  const b64url = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
  const decode = (jwt) => {
    const part = (s) => JSON.parse(decodeURIComponent(escape(atob(s.replace(/-/g, "+").replace(/_/g, "/")))));
    const [h, p] = jwt.split(".");
    return { header: part(h), payload: part(p) };
  };
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => (k === "onclick" ? (e.onclick = v) : e.setAttribute(k, v)));
    children.forEach((c) => e.append(c));
    return e;
  };
  const show = (...nodes) => { app.replaceChildren(...nodes); };
  const pre = (obj) => el("pre", {}, JSON.stringify(obj, null, 2));

  async function signIn() {
    const verifier = random(32);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    const state = random(16), nonce = random(16);
    store.setItem("demo.pkce", JSON.stringify({ verifier, state, nonce }));
    const q = new URLSearchParams({
      client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: "code",
      scope: "openid profile email offline_access", state, nonce,
      code_challenge: b64url(digest), code_challenge_method: "S256",
    });
    window.location.assign(ISSUER + "/authorize?" + q.toString());
  }

  async function tokenRequest(params) {
    const r = await fetch(ISSUER + "/token", {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: CLIENT_ID, ...params }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error + ": " + (body.error_description || ""));
    return body;
  }

  async function render(note) {
    const tokens = JSON.parse(store.getItem("demo.tokens") || "null");
    if (!tokens) {
      show(el("p", {}, note || "You are not signed in to the demo application."),
        el("button", { onclick: signIn, id: "sign-in" }, "Sign in with braid"));
      return;
    }
    const id = decode(tokens.id_token), at = decode(tokens.access_token);
    let userinfo;
    try {
      const r = await fetch(ISSUER + "/userinfo", { headers: { Authorization: "Bearer " + tokens.access_token } });
      userinfo = await r.json();
    } catch (e) { userinfo = { error: String(e) }; }
    const expected = JSON.parse(store.getItem("demo.nonce") || "null");
    show(
      el("p", {}, note || "Signed in. Your account id (sub): ", el("code", { id: "sub" }, id.payload.sub)),
      el("p", {}, el("button", { onclick: refresh, id: "refresh" }, "Refresh tokens"), " ",
        el("button", { onclick: signOut, class: "secondary", id: "sign-out" }, "Sign out")),
      el("h2", {}, "ID token"),
      el("p", { class: "muted" }, "nonce " + (expected && id.payload.nonce === expected ? "matches" : "not checked (refreshed token)")),
      pre(id),
      el("h2", {}, "Access token claims"), pre(at),
      el("h2", {}, "Userinfo"), pre(userinfo),
    );
  }

  async function refresh() {
    const tokens = JSON.parse(store.getItem("demo.tokens"));
    try {
      const fresh = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
      store.setItem("demo.tokens", JSON.stringify(fresh));
      store.removeItem("demo.nonce");
      render("Refreshed. Your account id (sub): ");
    } catch (e) {
      store.removeItem("demo.tokens");
      render("Refresh failed (" + e.message + "). Sign in again.");
    }
  }

  function signOut() {
    const tokens = JSON.parse(store.getItem("demo.tokens"));
    store.clear();
    const q = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: REDIRECT_URI, state: "signed-out" });
    window.location.assign(ISSUER + "/logout?" + q.toString());
  }

  async function main() {
    const params = new URLSearchParams(window.location.search);
    window.history.replaceState(null, "", REDIRECT_URI);
    if (params.get("error")) {
      return render("braid answered: " + params.get("error") + " (" + (params.get("error_description") || "") + ")");
    }
    if (params.get("state") === "signed-out") return render("Signed out.");
    if (params.get("code")) {
      const pkce = JSON.parse(store.getItem("demo.pkce") || "null");
      store.removeItem("demo.pkce");
      if (!pkce || pkce.state !== params.get("state")) return render("The state did not match; sign-in refused.");
      if (params.get("iss") !== ISSUER) return render("The iss parameter did not match; sign-in refused.");
      try {
        const tokens = await tokenRequest({
          grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT_URI, code_verifier: pkce.verifier,
        });
        if (decode(tokens.id_token).payload.nonce !== pkce.nonce) return render("The nonce did not match; sign-in refused.");
        store.setItem("demo.tokens", JSON.stringify(tokens));
        store.setItem("demo.nonce", JSON.stringify(pkce.nonce));
      } catch (e) {
        return render("Token request failed: " + e.message);
      }
    }
    render();
  }
  main();
})();
