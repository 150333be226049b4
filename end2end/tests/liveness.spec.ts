import { test, expect } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fillDemo, submit } from "./helpers";
import { freePort, killHard, startServer } from "./server";

// A server of its own: a heartbeat every second, a job silent after 2 s, and one that
// this test pauses.
test("a worker that stops reporting is marked silent, and a stalled connection is told apart from it", async ({ page }) => {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "candor-liveness-"));
  const server = await startServer(port, dataDir, {
    CANDOR_KEEPALIVE_SECS: "1",
    CANDOR_SILENT_AFTER_SECS: "2",
  });
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    const connection = page.getByTestId("connection");
    await expect(connection).toHaveAttribute("data-state", "live");

    // Two steps of 8 s: the job reports as each step starts, and is quiet in between.
    await fillDemo(page, 2, 8000);
    const { card } = await submit(page);
    await expect(card).toHaveAttribute("data-status", "running");
    const silent = card.getByTestId("silent");
    await expect(silent).toContainText(/silent for \d/);
    await expect(connection).toHaveAttribute("data-state", "live");

    // The server stops answering while the connection stays open: that is the
    // connection's trouble, not the worker's, and the page says so.
    server.kill("SIGSTOP");
    await expect(connection).toHaveAttribute("data-state", "stalled");
    await expect(connection).toContainText("stalled");
    await expect(silent).toHaveCount(0);

    server.kill("SIGCONT");
    await expect(connection).toHaveAttribute("data-state", "live");
    // The job reports again (its second step), and then ends: no longer silent.
    await expect(card).toHaveAttribute("data-status", "completed", { timeout: 40_000 });
    await expect(silent).toHaveCount(0);
  } finally {
    server.kill("SIGCONT");
    await killHard(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
