// The admin console in a real browser: the admin signs in, adds an OpenID Connect provider from
// the form (braid checks its discovery before saving), sees it on /login, searches an account by
// email, and unlinks an identity through the confirmation step.
// Usage: node console.mjs <braid base URL> <upstream issuer>. Prints one JSON line.
import { chromium } from "playwright-core";

const [base, issuer] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/login/dev`);
  await page.fill("input[name=username]", "root");
  await page.click("button[type=submit]");
  await page.waitForSelector("#account-id");

  await page.goto(`${base}/admin/providers`);
  const form = page.locator("#add-oidc");
  await form.locator("input[name=id]").fill("corp");
  await form.locator("input[name=display_name]").fill("Corp SSO");
  await form.locator("input[name=issuer]").fill(issuer);
  await form.locator("input[name=client_id]").fill("braid");
  await form.locator("input[name=client_secret]").fill("mock-secret");
  await form.locator("button[type=submit]").click();
  await page.waitForSelector(".notice");
  const added = await page.textContent(".notice");

  await page.goto(`${base}/login`);
  const onLogin = (await page.locator("a", { hasText: "Corp SSO" }).count()) > 0;

  await page.goto(`${base}/admin/accounts`);
  await page.fill("#q", "bob.alt@example.com");
  await page.click("button[type=submit]");
  const found = await page.locator("table").textContent();
  await page.locator("table a").first().click();
  await page.waitForSelector("tr[id^=identity-]");
  const row = page.locator("tr[id^=identity-]", { hasText: "bob-alt" });
  await row.locator("button", { hasText: "Unlink" }).click();
  await page.waitForSelector("#what");
  const confirm = await page.textContent("#what");
  await page.click("#confirm");
  await page.waitForSelector(".notice");
  const notice = await page.textContent(".notice");

  console.log(JSON.stringify({ added, onLogin, found, confirm, notice }));
} finally {
  await browser.close();
}
