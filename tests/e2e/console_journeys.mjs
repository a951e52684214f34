// The console's main journeys in a real Chromium, driven by Playwright: sign in
// with a key, see health and a firing alert, try a tool from its form, add and
// remove an upstream, start a workflow and watch it finish, read an agent run, read
// the audit log; a viewer reaches no action; the pages fit a phone. Each page's
// screenshot is kept, and each page's load time is written out.
//
// Environment: TIDEWAY_URL, TIDEWAY_ADMIN_KEY, TIDEWAY_VIEWER_KEY, TIDEWAY_AGENT_RUN,
// CHROMIUM (the browser), PLAYWRIGHT_CORE (the playwright-core folder), SCREENSHOTS.
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const base = process.env.TIDEWAY_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });
const timings = {};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

async function signIn(context, key) {
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(`${base}/console/overview`);
  // Sent to sign in first, then back.
  assert.match(page.url(), /\/console\/sign-in\?next=/);
  await page.getByLabel("API key or bearer token").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/console\/overview/);
  return page;
}

async function visit(page, path, name) {
  await page.goto(`${base}${path}`);
  timings[name] = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return Math.round(nav.loadEventEnd - nav.startTime);
  });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await signIn(admin, process.env.TIDEWAY_ADMIN_KEY);

// Keyboard: the first Tab reaches the skip link.
await page.keyboard.press("Tab");
assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");

// Overview: health, a firing alert, charts refreshed in place.
for (let i = 0; i < 60; i++) {
  if (await page.getByRole("cell", { name: "memory_in_use", exact: true }).count()) break;
  await page.waitForTimeout(500);
  await page.reload();
}
await page.getByRole("cell", { name: "memory_in_use", exact: true }).waitFor();
assert.ok(await page.getByRole("cell", { name: "store", exact: true }).count());
const refreshed = page.waitForResponse((r) => r.url().endsWith("/console/overview/live") && r.ok());
await refreshed;
assert.ok(await page.locator("svg.chart").count() >= 5);
await visit(page, "/console/overview", "overview");
await page.getByRole("button", { name: "Acknowledge" }).first().click();
await page.getByText("The alert was acknowledged").waitFor();

// Tools: search, then try search_knowledge_base from its form.
await visit(page, "/console/tools", "tools");
await page.getByRole("searchbox").fill("knowledge base articles");
await page.getByRole("button", { name: "Search" }).click();
await page.getByRole("link", { name: "support.search_knowledge_base" }).click();
await page.getByLabel("search_term (required)").fill("password");
await page.getByRole("button", { name: "Call search_knowledge_base" }).click();
await page.locator("#result").waitFor();
assert.ok((await page.locator("#result").textContent()).includes("{"));
await page.screenshot({ path: `${shots}/tool-result.png`, fullPage: true });

// Upstreams: add one, see it, remove it.
await visit(page, "/console/upstreams", "upstreams");
await page.getByLabel("Name").fill("far");
await page.getByLabel("Transport").selectOption("http");
await page.getByLabel("URL").fill("http://127.0.0.1:9/mcp");
await page.getByRole("button", { name: "Add upstream" }).click();
await page.getByText("The upstream was added").waitFor();
assert.ok(await page.getByRole("cell", { name: "far", exact: true }).count());
await page.screenshot({ path: `${shots}/upstream-added.png`, fullPage: true });
await page.getByRole("button", { name: "Remove far" }).click();
await page.getByText("The upstream was removed").waitFor();
assert.equal(await page.getByRole("cell", { name: "far", exact: true }).count(), 0);

// Workflows: start from the form and watch the run finish without reloading.
await visit(page, "/console/workflows", "workflows");
await page.getByRole("link", { name: "Greet" }).click();
await page.getByLabel("who (required)").fill("ada");
// The run's page follows the run's event stream rather than asking on a timer.
const followed = page.waitForRequest((r) => /\/console\/workflows\/executions\/[^/]+\/events$/.test(r.url()));
await page.getByRole("button", { name: "Start" }).click();
await page.waitForURL(/\/console\/workflows\/executions\//);
await followed;
await page.locator("#run-status", { hasText: "succeeded" }).waitFor({ timeout: 30000 });
await page.screenshot({ path: `${shots}/workflow-run.png`, fullPage: true });

// Agents: a run's transcript.
await visit(page, "/console/agents", "agents");
await page.goto(`${base}/console/agents/runs/${process.env.TIDEWAY_AGENT_RUN}`);
await page.getByText("Tool call").first().waitFor();
await page.screenshot({ path: `${shots}/agent-run.png`, fullPage: true });

// The audit log, filtered.
await visit(page, "/console/audit?tool=search_knowledge_base", "audit");
assert.ok(await page.getByRole("cell", { name: "support.search_knowledge_base" }).count());

// The other pages, for their screenshots and load times.
await visit(page, "/console/lakehouse", "lakehouse");
await visit(page, "/console/connections", "connections");
await visit(page, "/console/connections/prompts", "prompts");
await visit(page, "/console/keys", "keys");

// A phone: nothing wider than the screen.
const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
const small = await signIn(phone, process.env.TIDEWAY_ADMIN_KEY);
for (const path of ["/console/overview", "/console/tools", "/console/workflows"]) {
  await small.goto(`${base}${path}`);
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${path} is ${overflow}px wider than a phone`);
}
await small.screenshot({ path: `${shots}/phone-workflows.png`, fullPage: true });

// A viewer sees, and reaches no action.
const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const viewer = await signIn(viewerContext, process.env.TIDEWAY_VIEWER_KEY);
assert.equal(await viewer.getByRole("button", { name: "Acknowledge" }).count(), 0);
assert.equal(await viewer.getByRole("button", { name: "Resolve" }).count(), 0);
await viewer.goto(`${base}/console/workflows/templates/greet`);
assert.equal(await viewer.getByRole("button", { name: "Start" }).count(), 0);
const refused = await viewer.goto(`${base}/console/upstreams`);
assert.equal(refused.status(), 403);
await viewer.screenshot({ path: `${shots}/viewer-upstreams.png`, fullPage: true });

await browser.close();
writeFileSync(`${shots}/timings.json`, JSON.stringify(timings, null, 2));
console.log(JSON.stringify(timings));
