// Drives headless Chromium (Debian's, through playwright-core) for
// conformance/tests/web_browser.rs.
//
//   node driver.mjs SITE_DIR OUT_DIR CHROMIUM
//
// Serves SITE_DIR on two loopback ports (two origins: one the gRPC server allows, one it
// does not), prints `PAGE <allowed origin> <denied origin>`, reads `SERVER <url>` from
// stdin, then loads the test page from each origin and the example page, and prints what
// it saw, one line each: `CASE <name>\t<detail>` (the test page), `DENIED <name>\t<detail>`
// (the page from the origin not allowed), `EXAMPLE <reply>`, `PREFLIGHTS <n>`, `CONSOLE
// <message>`, then `END`. Screenshots go to OUT_DIR.

import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

const [siteDir, outDir, chromiumPath] = process.argv.slice(2);
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const file = path.join(siteDir, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ""));
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
      res.end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const allowed = await serve();
const denied = await serve();
const origin = (s) => `http://127.0.0.1:${s.address().port}`;
console.log(`PAGE ${origin(allowed)} ${origin(denied)}`);

const lines = readline.createInterface({ input: process.stdin });
const grpcServer = await new Promise((resolve) => {
  lines.on("line", (line) => {
    if (line.startsWith("SERVER ")) resolve(line.slice(7).trim());
  });
});

// A fresh profile each run (playwright passes it as --user-data-dir).
const userData = fs.mkdtempSync(path.join(outDir, "profile-"));
const context = await chromium.launchPersistentContext(userData, {
  executablePath: chromiumPath,
  headless: true,
  viewport: { width: 1100, height: 700 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const out = { console: [] };
try {
  const page = await context.newPage();
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.console.push(`pageerror: ${e}`));
  // Every preflight the page's calls cause, as Chromium's network layer saw it.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const preflights = [];
  cdp.on("Network.requestWillBeSent", (e) => {
    if (e.request.method === "OPTIONS") preflights.push(e.request.url);
  });

  const query = `server=${encodeURIComponent(grpcServer)}`;
  await page.goto(`${origin(allowed)}/index.html?${query}`);
  await page.waitForFunction(() => window.__done === true, null, { timeout: 60_000 });
  out.main = await page.evaluate(() => window.__results);
  await page.screenshot({ path: path.join(outDir, "grpc-web-browser.png"), fullPage: true });

  await page.goto(`${origin(denied)}/index.html?${query}&only=denied`);
  await page.waitForFunction(() => window.__done === true, null, { timeout: 60_000 });
  out.denied = await page.evaluate(() => window.__results);

  // The example in examples/web: type a name, press the button, read the greeting.
  await page.goto(`${origin(allowed)}/example/index.html?server=${encodeURIComponent(grpcServer)}`);
  await page.fill("#name", "Chromium");
  await page.click("#greet");
  await page.waitForFunction(() => document.querySelector("#reply").textContent !== "", null, {
    timeout: 30_000,
  });
  out.example = await page.textContent("#reply");
  await page.screenshot({ path: path.join(outDir, "grpc-web-example.png") });
  out.preflights = preflights.length;
} finally {
  await context.close();
  allowed.close();
  denied.close();
  lines.close();
  fs.rmSync(userData, { recursive: true, force: true });
}
const line = (s) => String(s).replace(/\s*\n\s*/g, " | ");
for (const { name, detail } of out.main) console.log(`CASE ${name}\t${line(detail)}`);
for (const { name, detail } of out.denied) console.log(`DENIED ${name}\t${line(detail)}`);
console.log(`EXAMPLE ${line(out.example)}`);
console.log(`PREFLIGHTS ${out.preflights}`);
for (const message of out.console) console.log(`CONSOLE ${line(message)}`);
console.log("END");
