import { test, expect } from "@playwright/test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, killHard, startServer } from "../tests/server";

// 200 jobs running at once, each reporting progress and writing a log line 5 times a
// second (1,000 of each a second in all), on the page in Chromium: how long the main thread is blocked (long tasks) and how
// evenly frames come. Written to bench/page-results.md.
const JOBS = 200;
const STEPS = 50;
const STEP_MS = 200;
const results = path.resolve(__dirname, "../../bench/page-results.md");

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;
}

test(`the page with ${JOBS} jobs updating at once`, async ({ page }) => {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "candor-page-bench-"));
  const server = await startServer(port, dataDir, {
    CANDOR_WORKERS: String(JOBS + 8),
    CANDOR_OWNER_MAX_IN_FLIGHT: "100000",
    CANDOR_OWNER_JOBS_PER_MINUTE: "100000",
    CANDOR_ADDRESS_JOBS_PER_MINUTE: "10000000",
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await page.goto(base);
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await page.evaluate(() => {
      const perf = { longTasks: [] as number[], frames: [] as number[], frameEnds: [] as number[], stop: false, startedAt: 0 };
      (window as any).__perf = perf;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) perf.longTasks.push(entry.duration);
      }).observe({ type: "longtask" });
      let last = performance.now();
      const tick = (now: number) => {
        perf.frames.push(now - last);
        perf.frameEnds.push(now);
        last = now;
        if (!perf.stop) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });

    // Where the main thread's time goes (Chromium's own counters, in seconds).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const counters = async () => {
      const { metrics } = await cdp.send("Performance.getMetrics");
      return Object.fromEntries(metrics.map((m: { name: string; value: number }) => [m.name, m.value]));
    };
    const before = await counters();
    await page.evaluate(() => { (window as any).__perf.startedAt = performance.now(); });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: JOBS }, () =>
        page.request.post(`${base}/api/jobs`, {
          headers: { origin: base },
          data: { kind: "demo", params: { steps: STEPS, stepMs: STEP_MS } },
        }).then((response) => expect(response.status()).toBe(202)),
      ),
    );
    const cards = page.locator('[data-testid="job"][data-status="completed"]');
    await expect(cards).toHaveCount(JOBS, { timeout: 120_000 });
    const seconds = (Date.now() - started) / 1000;
    const after = await counters();
    const spent = (name: string) => `${((after[name] - before[name]) * 1000).toFixed(0)} ms`;
    const perf = await page.evaluate(() => {
      const perf = (window as any).__perf;
      perf.stop = true;
      // When the longest gap between two frames ended, from the first request.
      let longest = 0;
      for (let i = 0; i < perf.frames.length; i++) if (perf.frames[i] > perf.frames[longest]) longest = i;
      const longestEndedAt = (perf.frameEnds[longest] - perf.startedAt) / 1000;
      return { longTasks: perf.longTasks as number[], frames: perf.frames as number[], longestEndedAt };
    });

    const long = [...perf.longTasks].sort((a, b) => a - b);
    const frames = [...perf.frames].sort((a, b) => a - b);
    const blocking = long.reduce((sum, d) => sum + Math.max(0, d - 50), 0);
    const ms = (n: number) => n.toFixed(1);
    const rows = [
      ["jobs, all shown completed", `${JOBS} (${STEPS} steps of ${STEP_MS} ms each)`],
      ["from the first request to every card completed", `${seconds.toFixed(1)} s`],
      ["long tasks (over 50 ms)", `${long.length}`],
      ["the longest", `${ms(long.at(-1) ?? 0)} ms`],
      ["total blocking time (sum of each long task beyond 50 ms)", `${ms(blocking)} ms`],
      ["frames", `${frames.length} (${(frames.length / seconds).toFixed(0)} a second)`],
      ["main thread: scripts (WASM and JS) / style / layout, in all",
        `${spent("ScriptDuration")} / ${spent("RecalcStyleDuration")} / ${spent("LayoutDuration")}`],
      ["time between frames, p50 / p95 / p99 / max", `${ms(percentile(frames, 50))} / ${ms(percentile(frames, 95))} / ${ms(percentile(frames, 99))} / ${ms(frames.at(-1) ?? 0)} ms`],
      ["the longest time between frames ended, from the first request", `${perf.longestEndedAt.toFixed(1)} s`],
    ];
    const bundle = process.env.CANDOR_BUNDLE ? `\n${process.env.CANDOR_BUNDLE}\n` : "";
    writeFileSync(
      results,
      `# The page under load\n\n\`bash bench/page.sh\` on ${new Date().toISOString().slice(0, 10)}: ` +
        `the release build, headless Chromium (Debian's), ${JOBS} demo jobs started at once ` +
        `through the API while the page is open, each reporting progress and writing a log ` +
        `line ${1000 / STEP_MS} times a second (${(JOBS * 1000) / STEP_MS} of each a second ` +
        `in all). Long tasks and frames are ` +
        `measured in the page (PerformanceObserver, requestAnimationFrame) from the first ` +
        `request until every card shows its job completed.\n\n| measure | value |\n|---|---|\n` +
        rows.map(([k, v]) => `| ${k} | ${v} |`).join("\n") + "\n" + bundle,
    );
    console.log(rows.map(([k, v]) => `${k}: ${v}`).join("\n"));
  } finally {
    await killHard(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
