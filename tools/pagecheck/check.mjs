// Loads a viewlog dashboard in Debian's headless Chromium, waits until the
// page has rendered /api/state a given number of times, saves a full-page
// screenshot and prints its findings as one JSON object on stdout:
//
//   node check.mjs <url> <screenshot.png> [renders]
//
//   {
//     "url": ..., "screenshot": ...,
//     "state": window.dashboardState after the last awaited render,
//     "requests": [{"url", "method", "resourceType", "status", "failure"}],
//     "console": [{"type", "text", "location"}],   // every console message
//     "pageErrors": ["uncaught exception", ...],
//     "layout": {"scrollWidth", "clientWidth", "scrollHeight", "clientHeight"}
//   }
//
// It judges nothing: the caller decides which findings are failures. It
// exits non-zero only when it could not produce them (browser did not start,
// page never rendered). The browser is Debian's chromium; nothing is
// downloaded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, screenshot, rendersArg] = process.argv.slice(2);
if (!url || !screenshot) {
  process.stderr.write('usage: node check.mjs <url> <screenshot.png> [renders]\n');
  process.exit(2);
}
const renders = Number(rendersArg || 1);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.PAGECHECK_TIMEOUT_MS || 60000);

// Without the background-networking flags Chromium reaches out to its
// vendor's services at start, which would show up as foreign requests.
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const findings = { url, screenshot, state: null, requests: [], console: [], pageErrors: [], layout: null };
const userDataDir = await mkdtemp(join(tmpdir(), 'viewlog-pagecheck-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true, args,
    viewport: { width: 1280, height: 900 },
    timeout,
  });
  // Requests are recorded on the context, so that ones from any frame or
  // worker count, and each is listed once with how it ended.
  const byRequest = new Map();
  context.on('request', (req) => {
    const entry = { url: req.url(), method: req.method(), resourceType: req.resourceType(), status: null, failure: null };
    byRequest.set(req, entry);
    findings.requests.push(entry);
  });
  context.on('response', (res) => {
    const entry = byRequest.get(res.request());
    if (entry) entry.status = res.status();
  });
  context.on('requestfailed', (req) => {
    const entry = byRequest.get(req);
    if (entry) entry.failure = req.failure()?.errorText || 'failed';
  });

  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', (msg) => {
    const loc = msg.location();
    findings.console.push({ type: msg.type(), text: msg.text(), location: loc && loc.url ? `${loc.url}:${loc.lineNumber}` : '' });
  });
  page.on('pageerror', (err) => findings.pageErrors.push(String(err && err.stack || err)));

  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction((n) => window.dashboardState && window.dashboardState.renders >= n, renders);
  findings.state = await page.evaluate(() => window.dashboardState);
  findings.layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    scrollHeight: document.documentElement.scrollHeight,
    clientHeight: document.documentElement.clientHeight,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (err) {
  findings.error = String(err && err.message || err);
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.stdout.write(JSON.stringify(findings, null, 2) + '\n');
process.exit(findings.error ? 1 : 0);
