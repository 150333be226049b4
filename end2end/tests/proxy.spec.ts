import { test, expect } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fillDemo, submit } from "./helpers";
import { freePort, killHard, startServer } from "./server";

// Candor behind a real nginx (Debian's, installed by the README's test command), twice:
// once buffering the event stream as a careless proxy does (and ignoring the
// X-Accel-Buffering: no that Candor sends), once as the README recommends.

const example = readFileSync(path.resolve(__dirname, "../../deploy/nginx.conf"), "utf8");

/** The README's example for one node on `node`, listening on `listen`. */
function recommended(node: number, listen: number): string {
  const config = example
    .replace("server 127.0.0.1:3001;", `server 127.0.0.1:${node};`)
    .replace("server 127.0.0.1:3002;", "")
    .replace("listen 8080;", `listen 127.0.0.1:${listen};`);
  expect(config).toContain(`127.0.0.1:${node}`);
  return config;
}

/** A careless proxy: nginx's own defaults to the node (HTTP/1.0, a connection per
 *  request) and buffering on, whatever Candor says. */
function buffering(node: number, listen: number): string {
  const config = recommended(node, listen)
    .replace("proxy_buffering off;", "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;")
    .replace("proxy_http_version 1.1;", "")
    .replace('proxy_set_header Connection "";', "")
    .replace("keepalive 32;", "");
  expect(config).toContain("proxy_buffering on;");
  expect(config).not.toContain("proxy_http_version");
  return config;
}

function startNginx(dir: string, config: string, port: number): Promise<ChildProcess> {
  mkdirSync(path.join(dir, "logs"), { recursive: true });
  writeFileSync(path.join(dir, "nginx.conf"), config);
  const child = spawn("nginx", [
    "-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", "stderr",
    "-g", `daemon off; master_process off; pid ${path.join(dir, "nginx.pid")};`,
  ], { stdio: ["ignore", "ignore", "inherit"] });
  // nginx says nothing when it is ready: wait until its port takes connections.
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`nginx exited (${code})`)));
    const attempt = () => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => { socket.destroy(); resolve(child); });
      socket.once("error", () => setTimeout(attempt, 50));
    };
    attempt();
  });
}

async function behindNginx(configure: (node: number, listen: number) => string) {
  const dir = mkdtempSync(path.join(tmpdir(), "candor-proxy-"));
  const [node, listen] = [await freePort(), await freePort()];
  // A heartbeat every second: a held-back stream shows within seconds.
  const server = await startServer(node, path.join(dir, "data"), {
    CANDOR_KEEPALIVE_SECS: "1",
    CANDOR_ADMIN_ADDR: "off",
  });
  const nginx = await startNginx(dir, configure(node, listen), listen);
  return {
    url: `http://127.0.0.1:${listen}/`,
    stop: async () => {
      await killHard(nginx);
      await killHard(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("behind a buffering proxy the page says so, polls, and still shows a job's true end", async ({ page }) => {
  const proxy = await behindNginx(buffering);
  try {
    await page.goto(proxy.url);
    const warning = page.getByTestId("proxy-warning");
    await expect(warning).toContainText("Live updates are being delayed by a proxy between you and Candor");
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "delayed");
    const advice = warning.getByRole("link");
    const href = await advice.getAttribute("href");
    const text = await (await page.request.get(new URL(href!, proxy.url).toString())).text();
    expect(text).toContain("proxy_buffering off");

    // A job started now: the stream holds its events back, polling brings them.
    await fillDemo(page, 3, 200);
    const { card } = await submit(page);
    await expect(card).toHaveAttribute("data-status", "completed");
    await expect(warning).toBeVisible();
  } finally {
    await proxy.stop();
  }
});

test("behind the README's nginx the page stays live, with no warning", async ({ page }) => {
  const proxy = await behindNginx(recommended);
  try {
    await page.goto(proxy.url);
    const connection = page.getByTestId("connection");
    await expect(connection).toHaveAttribute("data-state", "live");
    // Note whether the warning ever shows, however briefly.
    await page.evaluate(() => {
      const w = window as any;
      w.__warned = false;
      new MutationObserver(() => {
        if (document.querySelector("[data-testid=proxy-warning]")) w.__warned = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    // Five seconds of steps: five heartbeats' time.
    await fillDemo(page, 5, 1000);
    const { card } = await submit(page);
    await expect(card).toHaveAttribute("data-status", "completed");
    await expect(connection).toHaveAttribute("data-state", "live");
    expect(await page.evaluate(() => (window as any).__warned)).toBe(false);
    await expect(page.getByTestId("proxy-warning")).toHaveCount(0);
  } finally {
    await proxy.stop();
  }
});
