import { test, expect } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fillDemo, progressOf, submit } from "./helpers";
import { freePort, killHard, startServer } from "./server";

// Two nodes on one PostgreSQL database (the README's test command names one in
// CANDOR_E2E_DATABASE_URL; the nodes create it). The page is open on node A, which runs
// no jobs; node B runs the job and is killed.

test("the page on one node shows the honest end of a job whose node was killed, without a reload", async ({ page }) => {
  const database = process.env.CANDOR_E2E_DATABASE_URL;
  test.skip(!database, "needs CANDOR_E2E_DATABASE_URL (set by the README's test command)");
  const dataDir = mkdtempSync(path.join(tmpdir(), "candor-nodes-"));
  const shared = { CANDOR_DATABASE_URL: database!, CANDOR_LEASE_SECS: "2" };
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await startServer(portA, dataDir, { ...shared, CANDOR_NODE_NAME: "a", CANDOR_WORKERS: "0" });
  const b = await startServer(portB, dataDir, { ...shared, CANDOR_NODE_NAME: "b", CANDOR_WORKERS: "1" });
  try {
    await page.goto(`http://127.0.0.1:${portA}/`);
    const connection = page.getByTestId("connection");
    await expect(connection).toHaveAttribute("data-state", "live");
    await page.evaluate(() => ((window as any).__sameDocument = true));

    await fillDemo(page, 100, 300);
    const { card } = await submit(page);
    // Node A has no workers: the progress comes from B, through the shared log.
    await expect(card).toHaveAttribute("data-status", "running");
    await expect.poll(async () => Number(await progressOf(card).getAttribute("aria-valuenow"))).toBeGreaterThan(0);

    await killHard(b);
    // Once B's lease runs out, A ends the job; the page hears it on its live stream.
    await expect(card).toHaveAttribute("data-status", "failed");
    await expect(card.getByTestId("failure")).toContainText("worker node lost");
    await expect(card.getByRole("button", { name: "Retry" })).toBeVisible();
    await expect(connection).toHaveAttribute("data-state", "live");
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  } finally {
    await killHard(a);
    if (b.exitCode === null && b.signalCode === null) await killHard(b);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
