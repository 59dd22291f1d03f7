// Account linking in a real browser: sign in with identity A, link identity B on /account, sign
// out, sign in with B (same account), make B primary and unlink A, then try to link B from a
// second account and see the refusal. Usage: node linking.mjs <braid base URL>
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const base = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

async function devSignIn(page, provider, username) {
  await page.goto(`${base}/login`);
  await page.click(`a[href="/login/${provider}"]`);
  await page.fill("input[name=username]", username);
  await page.click("button[type=submit]");
}

try {
  const page = await (await browser.newContext()).newPage();
  await devSignIn(page, "dev", "alice");
  await page.waitForSelector("#account-id");
  const accountA = await page.textContent("#account-id");

  await page.click("#link-dev2");
  await page.fill("input[name=username]", "alice-b");
  await page.click("button[type=submit]");
  await page.waitForSelector(".notice");
  const linkedNotice = await page.textContent(".notice");
  const rowsAfterLink = await page.locator("tr[data-identity]").count();

  await page.goto(`${base}/logout`);
  await devSignIn(page, "dev2", "alice-b");
  await page.waitForSelector("#account-id");
  const accountViaB = await page.textContent("#account-id");

  // Make B primary, then unlink A.
  const rowB = page.locator("tr[data-identity]", { hasText: "alice-b" });
  await rowB.locator("button", { hasText: "Make primary" }).click();
  await page.waitForSelector(".notice");
  const rowA = page.locator("tr[data-identity]").filter({ has: page.locator("code.subject", { hasText: /^alice$/ }) });
  await rowA.locator("button", { hasText: "Unlink" }).click();
  await page.waitForSelector(".notice");
  const unlinkNotice = await page.textContent(".notice");
  const rowsAfterUnlink = await page.locator("tr[data-identity]").count();

  // A second account tries to link B.
  await page.goto(`${base}/logout`);
  await devSignIn(page, "dev", "bob");
  await page.waitForSelector("#account-id");
  const accountBob = await page.textContent("#account-id");
  await page.click("#link-dev2");
  await page.fill("input[name=username]", "alice-b");
  await page.click("button[type=submit]");
  await page.waitForSelector("h1");
  const refusal = await page.textContent("h1");

  console.log(JSON.stringify({ accountA, accountViaB, accountBob, linkedNotice, rowsAfterLink, unlinkNotice, rowsAfterUnlink, refusal }));
} finally {
  await browser.close();
}
