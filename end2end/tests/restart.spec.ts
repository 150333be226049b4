import { test, expect } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fillDemo, progressOf, submit } from "./helpers";

// This test restarts a server, so it runs one of its own: the binary cargo-leptos just
// built, on a free port, with its own data directory.
const root = path.resolve(__dirname, "../..");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function startServer(port: number, dataDir: string): Promise<ChildProcess> {
  const child = spawn(path.join(root, "target/debug/candor"), [], {
    cwd: root,
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "target/site",
      LEPTOS_OUTPUT_NAME: "candor",
      CANDOR_DATA_DIR: dataDir,
      NO_COLOR: "1",
      RUST_LOG: "info,sqlx=warn,tower_http=warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("serving")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`server exited (${code}):\n${output}`)));
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

test("after a server restart the open page shows reconnecting, then the job's honest ending, without a reload", async ({ page }) => {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "candor-restart-"));
  let server = await startServer(port, dataDir);
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    const connection = page.getByTestId("connection");
    await expect(connection).toHaveAttribute("data-state", "live");
    await page.evaluate(() => ((window as any).__sameDocument = true));

    await fillDemo(page, 100, 300);
    const { card } = await submit(page);
    await expect(card).toHaveAttribute("data-status", "running");
    await expect.poll(async () => Number(await progressOf(card).getAttribute("aria-valuenow"))).toBeGreaterThan(0);

    await killHard(server);
    await expect(connection).toHaveAttribute("data-state", "reconnecting");
    await expect(connection).toContainText("reconnecting");

    server = await startServer(port, dataDir);
    await expect(connection).toHaveAttribute("data-state", "live");
    await expect(card).toHaveAttribute("data-status", "failed");
    await expect(card.getByTestId("failure")).toContainText("interrupted by a server restart");
    await expect(card.getByRole("button", { name: "Retry" })).toBeVisible();
    // The same page all along: it was never reloaded.
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  } finally {
    await killHard(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
