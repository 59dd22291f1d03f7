// The demo application in a real browser: sign in through braid with the code flow and PKCE,
// see the tokens, refresh, sign out. Usage: node demo.mjs <braid base URL>
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const base = process.argv[2];
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/demo`);
  await page.click("#sign-in");
  // One provider: the chooser is skipped and the dev provider's form shows.
  await page.waitForSelector("input[name=username]");
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=email]", "alice@example.com");
  await page.click("button[type=submit]");
  await page.waitForSelector("#sub", { timeout: 15000 });
  const signedIn = await page.textContent("#app");
  const sub = await page.textContent("#sub");
  await page.click("#refresh");
  await page.waitForFunction(() => document.body.innerText.includes("Refreshed"));
  const refreshedSub = await page.textContent("#sub");
  await page.click("#sign-out");
  await page.waitForFunction(() => document.body.innerText.includes("Signed out"));
  await page.goto(`${base}/account`);
  console.log(JSON.stringify({
    sub,
    refreshedSub,
    nonceChecked: signedIn.includes("nonce matches"),
    userinfoShown: signedIn.includes("alice@example.com"),
    afterSignOut: new URL(page.url()).pathname,
  }));
} finally {
  await browser.close();
}
