import { test, expect } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, killHard, startServer } from "./server";

// A server of its own, whose limits let one browser start hundreds of jobs at once.
test("a long history lists the newest jobs with counts of all of them, and older ones on request", async ({ page }) => {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "candor-history-"));
  const server = await startServer(port, dataDir, {
    CANDOR_OWNER_JOBS_PER_MINUTE: "100000",
    CANDOR_OWNER_MAX_IN_FLIGHT: "100000",
    CANDOR_WORKERS: "8",
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await page.goto(`${base}/`);
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
    // 320 one-step jobs, the first 20 of which fail, started over the API with the page's
    // identity.
    const started: string[] = [];
    for (let i = 0; i < 320; i++) {
      const params = i < 20 ? { steps: 1, stepMs: 0, failAt: 1 } : { steps: 1, stepMs: 0 };
      const response = await page.request.post(`${base}/api/jobs`, {
        data: { kind: "demo", params },
      });
      expect(response.status()).toBe(202);
      started.push((await response.json()).id);
    }
    const allEnded = async () => {
      const list = await (await page.request.get(`${base}/api/jobs?limit=1`)).json();
      return list.counts.completed + list.counts.failed;
    };
    await expect.poll(allEnded, { timeout: 60_000 }).toBe(320);

    await page.reload();
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
    const cards = page.getByTestId("job-list").locator("[data-job-id]");
    // The newest 200, in order, and counts of all 320.
    await expect(cards).toHaveCount(200);
    await expect(cards.first()).toHaveAttribute("data-job-id", started[319]);
    const count = (filter: string) => page.getByTestId(`filter-${filter}`).locator(".count");
    await expect(count("all")).toHaveText("320");
    await expect(count("failed")).toHaveText("20");
    await expect(count("completed")).toHaveText("300");

    // Older ones, a hundred at a time, until there are no more.
    const older = page.getByTestId("older-jobs");
    await older.click();
    await expect(cards).toHaveCount(300);
    await older.click();
    await expect(cards).toHaveCount(320);
    await expect(older).toHaveCount(0);
    await expect(cards.last()).toHaveAttribute("data-job-id", started[0]);
    await expect(count("all")).toHaveText("320");
  } finally {
    await killHard(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
