// Signing in to the console through an OpenID Connect provider in a real Chromium:
// the sign-in page offers the provider, the provider's own login and consent pages
// are filled in, and the browser lands signed in where it was going, with the role
// the provider's token carries; signing out ends the session.
//
// Environment: TIDEWAY_URL, CHROMIUM, PLAYWRIGHT_CORE, SCREENSHOTS.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const base = process.env.TIDEWAY_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${base}/console/tools`);
  assert.match(page.url(), /\/console\/sign-in\?next=/);
  await page.getByRole("link", { name: "Sign in with Team ID" }).click();

  // The provider's pages, on the provider's origin.
  await page.locator('input[name="login"]').waitFor();
  assert.ok(!page.url().startsWith(base), page.url());
  await page.locator('input[name="login"]').fill("ada");
  await page.locator('input[name="password"]').fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  const consent = page.getByRole("button", { name: "Continue" });
  await page.waitForLoadState();
  if (await consent.isVisible()) await consent.click();

  // Back where the browser was going, signed in as the provider's person.
  await page.waitForURL(`${base}/console/tools`);
  await page.getByText("jwt:ada · operator · default").waitFor();
  await page.screenshot({ path: `${shots}/sso-signed-in.png`, fullPage: true });

  // The session acts: a tool tried from its form.
  await page.goto(`${base}/console/tools/system/echo`);
  await page.getByLabel(/^message/).fill("through the provider");
  await page.getByRole("button", { name: "Call echo" }).click();
  await page.locator("#result").waitFor();
  assert.ok((await page.locator("#result").textContent()).includes("through the provider"));

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/console\/sign-in/);
  await page.goto(`${base}/console/tools`);
  assert.match(page.url(), /\/console\/sign-in\?next=/);
} finally {
  await browser.close();
}
console.log("sso journey passed");
