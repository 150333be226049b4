import { test, expect } from "@playwright/test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { withBusyServer } from "../tests/server";

// A page left open through a busy day: 10,000 short jobs come and go while it watches.
// Its DOM nodes, event listeners and JS heap (after a garbage collection) are recorded
// after 1,000 jobs and after 10,000: they must level off, not grow with every job.
// Written to bench/page-day-results.md.
const TOTAL = 10_000;
const EARLY = 1_000;
const BATCH = 50;
const results = path.resolve(__dirname, "../../bench/page-day-results.md");

test(`the page while ${TOTAL.toLocaleString("en")} jobs come and go`, async ({ page }) => {
  test.setTimeout(900_000);
  await withBusyServer(page, "page-day", { CANDOR_WORKERS: "16" }, async (base) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const measure = async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      const { metrics } = await cdp.send("Performance.getMetrics");
      const of = (name: string) => metrics.find((m: { name: string }) => m.name === name)?.value ?? 0;
      return {
        nodes: of("Nodes"),
        listeners: of("JSEventListeners"),
        heapMiB: of("JSHeapUsedSize") / (1 << 20),
        cards: await page.getByTestId("job-list").locator("[data-job-id]").count(),
      };
    };
    const completed = async () =>
      (await (await page.request.get(`${base}/api/jobs?limit=1`)).json()).counts.completed;
    const run = async (from: number, to: number) => {
      for (let i = from; i < to; i += BATCH) {
        await Promise.all(
          Array.from({ length: Math.min(BATCH, to - i) }, () =>
            page.request
              .post(`${base}/api/jobs`, { data: { kind: "demo", params: { steps: 1, stepMs: 0 } } })
              .then((response) => expect(response.status()).toBe(202)),
          ),
        );
      }
      await expect.poll(completed, { timeout: 600_000 }).toBe(to);
      const count = page.getByTestId("filter-completed").locator(".count");
      await expect(count).toHaveText(String(to), { timeout: 60_000 });
    };
    const fresh = await measure();
    await run(0, EARLY);
    const early = await measure();
    await run(EARLY, TOTAL);
    const late = await measure();

    const row = (label: string, m: typeof fresh) =>
      `| ${label} | ${m.cards} | ${m.nodes} | ${m.listeners} | ${m.heapMiB.toFixed(1)} MiB |`;
    writeFileSync(
      results,
      `# A page left open through a busy day\n\n\`bash bench/page.sh\` on ${new Date().toISOString().slice(0, 10)}: ` +
        `the release build, headless Chromium (Debian's); ${TOTAL.toLocaleString("en")} one-step demo jobs started ` +
        `through the API, ${BATCH} at a time, while the page watches. Measured after a garbage ` +
        `collection (CDP \`HeapProfiler.collectGarbage\`, \`Performance.getMetrics\`).\n\n` +
        `| after | cards | DOM nodes | event listeners | JS heap used |\n|---|---:|---:|---:|---:|\n` +
        [row("the page opened", fresh), row(`${EARLY.toLocaleString("en")} jobs`, early),
          row(`${TOTAL.toLocaleString("en")} jobs`, late)].join("\n") +
        `\n\nThe page keeps a window: past 200 jobs, each job that arrives lets the oldest ended ` +
        `one go (behind "Show older jobs"); the counts stay exact (${TOTAL.toLocaleString("en")} completed).\n`,
    );
    console.log({ fresh, early, late });
    expect(late.cards).toBeLessThanOrEqual(210);
    expect(late.nodes).toBeLessThan(early.nodes * 1.1 + 50);
  });
});
