import { test, expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fillDemo, submit } from "./helpers";
import { freePort, killHard, startServer } from "./server";

// Given a certificate (a self-signed one, made here with openssl), Candor serves HTTPS
// with HTTP/2: the page loads over it, and its event stream runs over h2.

test.use({ ignoreHTTPSErrors: true });

test("over HTTPS the page's event stream runs over HTTP/2", async ({ page }) => {
  const dir = mkdtempSync(path.join(tmpdir(), "candor-tls-"));
  const [cert, key] = [path.join(dir, "cert.pem"), path.join(dir, "key.pem")];
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  const port = await freePort();
  const server = await startServer(port, path.join(dir, "data"), {
    CANDOR_TLS_CERT: cert,
    CANDOR_TLS_KEY: key,
    CANDOR_ADMIN_ADDR: "off",
  });
  try {
    // The protocol of every response, as Chromium's network stack saw it.
    const protocols = new Map<string, string>();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    cdp.on("Network.responseReceived", (e: any) => protocols.set(new URL(e.response.url).pathname, e.response.protocol));

    await page.goto(`https://127.0.0.1:${port}/`);
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
    expect(await page.evaluate(() => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol)).toBe("h2");
    expect(protocols.get("/api/events")).toBe("h2");

    // And the stream carries a job to its end.
    await fillDemo(page, 3, 100);
    const { card } = await submit(page);
    await expect(card).toHaveAttribute("data-status", "completed");
  } finally {
    await killHard(server);
    rmSync(dir, { recursive: true, force: true });
  }
});
