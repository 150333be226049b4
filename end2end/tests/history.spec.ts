import { test, expect } from "@playwright/test";
import { withBusyServer } from "./server";

// A server of its own, whose limits let one browser start hundreds of jobs at once.
test("a long history lists the newest jobs with counts of all of them, and older ones on request", async ({ page }) => {
  // 320 jobs started one after another (their order is what the list is checked against)
  // and run to their ends by a debug build: about a minute on two busy cores.
  test.setTimeout(180_000);
  await withBusyServer(page, "history", { CANDOR_WORKERS: "8" }, async (base) => {
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
  });
});

// A dashboard left open through a busy day: 1,500 short jobs come and go while the page
// watches. It keeps a window of the newest 200 (and whatever runs), lets older ended jobs
// go, and its DOM and listeners level off instead of growing with every job; the counts
// stay exact.
test("a page left open while 1,500 jobs come and go stays light", async ({ page }) => {
  test.setTimeout(240_000);
  await withBusyServer(page, "endurance", { CANDOR_WORKERS: "8" }, async (base) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      const { metrics } = await cdp.send("Performance.getMetrics");
      const of = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
      return { nodes: of("Nodes"), listeners: of("JSEventListeners") };
    };
    const ended = async () => {
      const list = await (await page.request.get(`${base}/api/jobs?limit=1`)).json();
      return list.counts.completed;
    };
    const cards = page.getByTestId("job-list").locator("[data-job-id]");
    const count = (filter: string) => page.getByTestId(`filter-${filter}`).locator(".count");
    const run = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const response = await page.request.post(`${base}/api/jobs`, {
          data: { kind: "demo", params: { steps: 1, stepMs: 0 } },
        });
        expect(response.status()).toBe(202);
      }
      await expect.poll(ended, { timeout: 120_000 }).toBe(to);
      await expect(count("all")).toHaveText(String(to));
      await expect(count("completed")).toHaveText(String(to));
    };

    await run(0, 300);
    await expect(cards).toHaveCount(200);
    const early = await metrics();
    await run(300, 1500);
    await expect(cards).toHaveCount(200);
    const late = await metrics();
    console.log(`after 300 jobs: ${JSON.stringify(early)}; after 1,500: ${JSON.stringify(late)}`);
    // Level: within a few percent, not five times as many.
    expect(late.nodes).toBeLessThan(early.nodes * 1.1 + 50);
    expect(late.listeners).toBeLessThan(early.listeners * 1.1 + 10);

    // What was let go is a click away, in order.
    await page.getByTestId("older-jobs").click();
    await expect(cards).toHaveCount(300);
  });
});
