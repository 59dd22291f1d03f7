// One sign-in for two applications on two subdomains, in a real browser: braid at
// auth.example.test, Caddy with forward_auth in front of app.example.test and
// other.example.test; every *.test name is mapped to 127.0.0.1. The browser signs in at the
// first app, then opens the second without signing in again: braid's session cookie carries
// `Domain=example.test`.
// Usage: node cookie_domain.mjs <first app URL> <second app URL> <braid base URL>
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [first, second, braid] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP *.test 127.0.0.1"],
});

// The echo app answers with the request headers it received, as JSON.
async function echoed(page) {
  return JSON.parse(await page.evaluate(() => document.body.innerText));
}

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const braidHost = new URL(braid).host;
  const atBraid = [];
  page.on("request", (r) => { if (new URL(r.url()).host === braidHost) atBraid.push(new URL(r.url()).pathname); });

  // First app: no session, so Caddy's forward_auth sends the browser to braid's sign-in.
  await page.goto(`${first}/hello?x=1`);
  await page.waitForSelector("input[name=username]");
  const signInPage = new URL(page.url());
  await page.fill("input[name=username]", "carla");
  await page.fill("input[name=email]", "carla@example.com");
  await page.click("button[type=submit]");
  await page.waitForURL(`${first}/hello?x=1`);
  const firstSeen = await echoed(page);
  const braidDuringFirst = atBraid.splice(0);

  // Second app, on another subdomain: the shared cookie is enough, braid is asked by Caddy only.
  await page.goto(`${second}/other-page`);
  const secondUrl = page.url();
  const secondSeen = await echoed(page);
  const braidDuringSecond = atBraid.splice(0);

  const cookies = (await context.cookies()).filter((c) => c.name.includes("braid_session"));
  console.log(JSON.stringify({
    signInHost: signInPage.host,
    signInPath: signInPage.pathname,
    braidDuringFirst,
    first: firstSeen,
    secondUrl,
    second: secondSeen,
    braidDuringSecond,
    cookies: cookies.map((c) => ({ name: c.name, domain: c.domain, httpOnly: c.httpOnly, secure: c.secure })),
  }));
} finally {
  await browser.close();
}
