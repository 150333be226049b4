import { test, expect } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fillDemo, progressOf, submit } from "./helpers";
import { freePort, killHard, startServer } from "./server";

// This test restarts a server, so it runs one of its own.

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

test("a page whose identity the server no longer knows reloads and is live again with a new one", async ({ page }) => {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "candor-identity-"));
  let server = await startServer(port, dataDir, { CANDOR_SESSION_KEY: "a".repeat(88) });
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    const connection = page.getByTestId("connection");
    await expect(connection).toHaveAttribute("data-state", "live");
    await page.evaluate(() => ((window as any).__sameDocument = true));

    // The same server, signing with another key: the page's cookie names no one now.
    await killHard(server);
    server = await startServer(port, dataDir, { CANDOR_SESSION_KEY: "b".repeat(88) });
    // The stream is refused (401); the page asks the API, hears 401 too, and reloads.
    await expect.poll(() => page.evaluate(() => (window as any).__sameDocument ?? false), { timeout: 30_000 }).toBe(false);
    await expect(connection).toHaveAttribute("data-state", "live");
  } finally {
    await killHard(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
