import { test, expect } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { fillDemo, openDashboard, progressOf, submit } from "./helpers";

test("a demo job runs to 100 % and completes, live, without a reload", async ({ page }) => {
  await openDashboard(page);
  await fillDemo(page, 10, 300);
  const { card } = await submit(page);
  await expect(card).toBeVisible();
  const bar = progressOf(card);
  // It is seen part-way, then complete: the page follows the stream.
  await expect(card).toHaveAttribute("data-status", "running");
  await expect(bar).toHaveAttribute("aria-valuenow", "100");
  await expect(card).toHaveAttribute("data-status", "completed");
  await expect(card.getByText("Completed", { exact: true })).toBeVisible();
  await expect(page.getByTestId("announcer")).toContainText("completed");
  await expect(card.getByRole("button", { name: "Cancel" })).toHaveCount(0);
});

test("an export's download link downloads a CSV with the right row count", async ({ page }) => {
  await openDashboard(page);
  await page.getByLabel("Kind").selectOption("export");
  await page.getByLabel("Source").selectOption("sample");
  await page.getByLabel("Rows").fill("1234");
  const { card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "completed");
  const link = card.getByTestId("download");
  await expect(link).toBeVisible();
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  expect(download.suggestedFilename()).toMatch(/^candor-orders-[0-9a-f]{8}\.csv$/);
  const csv = await readFile(await download.path(), "utf8");
  const lines = csv.trimEnd().split("\n");
  expect(lines[0]).toBe("id,date,customer,region,amount");
  expect(lines.length).toBe(1 + 1234);
  // The card counts what the export wrote.
  await expect(card.getByTestId("processed")).toContainText("1,234 rows");
});

test("a job's log grows live under its card, and once it ends its timeline says what took how long", async ({ page }) => {
  await openDashboard(page);
  // Steps long enough (2 s) to look at the log between two lines, even on a slow machine.
  await fillDemo(page, 3, 2000);
  const { card } = await submit(page);
  const log = card.getByTestId("log");
  // The first line arrives while the job runs; the log opens from the keyboard.
  await expect(log.locator("summary")).toHaveText("Log: 1 line");
  await expect(card).toHaveAttribute("data-status", "running");
  await log.locator("summary").focus();
  await page.keyboard.press("Enter");
  await expect(log.getByRole("log")).toBeVisible();
  await expect(log.getByRole("listitem")).toHaveText(["Finished step 1 of 3"]);
  // Open, it keeps growing.
  await expect(log.getByRole("listitem")).toHaveText([
    "Finished step 1 of 3",
    "Finished step 2 of 3",
    "Finished step 3 of 3",
  ]);
  await expect(card).toHaveAttribute("data-status", "completed");
  await expect(card.getByTestId("timeline")).toHaveCount(1);

  const timeline = card.getByTestId("timeline");
  const steps = timeline.getByRole("listitem");
  // Folded, the timeline is not built at all; opened, it is.
  await expect(steps).toHaveCount(0);
  await timeline.locator("summary").click();
  await expect(steps).toHaveCount(4);
  await expect(steps.locator(".timeline-step")).toHaveText([
    "Starting",
    "Step 1 of 3",
    "Step 2 of 3",
    "Step 3 of 3",
  ]);
  // "Starting" (from the claim to the job's first step) takes a moment, in
  // milliseconds; each step about its 2 s, shown as seconds with a tenth.
  const took = steps.locator(".timeline-took");
  await expect(took.first()).toHaveText(/^(\d+ ms|\d\.\d s)$/);
  for (const step of (await took.all()).slice(1)) {
    await expect(step).toHaveText(/^[12]\.\d s$/);
  }

  // The first paint after a reload, before any script, shows the log and the timeline.
  const html = await (await page.request.get("/")).text();
  expect(html).toContain("Finished step 3 of 3");
  expect(html).toContain("Timeline: 4 steps");
});

test("a failing demo job shows its reason and the step it failed at, and can be retried", async ({ page }) => {
  await openDashboard(page);
  await fillDemo(page, 4, 100, 2);
  const { job, card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "failed");
  const failure = card.getByTestId("failure");
  await expect(failure).toContainText("Step 2 of 4");
  await expect(failure).toContainText("asked to fail at step 2");
  await expect(page.getByTestId("announcer")).toContainText("failed");

  // One click retries it: a new job with the same parameters.
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/jobs/${job.id}/retry`)),
    card.getByRole("button", { name: "Retry" }).click(),
  ]);
  expect(response.status()).toBe(202);
  const retry = await response.json();
  expect(retry.retryOf).toBe(job.id);
  expect(retry.params).toEqual(job.params);
  const retryCard = page.locator(`[data-job-id="${retry.id}"]`);
  await expect(retryCard).toContainText("a retry");
  await expect(retryCard).toHaveAttribute("data-status", "failed");
});

test("a running job can be cancelled with one click", async ({ page }) => {
  await openDashboard(page);
  await fillDemo(page, 50, 500);
  const { job, card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "running");
  await card.getByRole("button", { name: "Cancel" }).click();
  await expect(card).toHaveAttribute("data-status", "cancelled");
  await expect(card.getByRole("button", { name: "Cancel" })).toHaveCount(0);
  // The server agrees.
  const response = await page.request.get(`/api/jobs/${job.id}`);
  expect((await response.json()).status).toBe("cancelled");
});

test("a reload mid-job shows the current state at once and continues live", async ({ page }) => {
  await openDashboard(page);
  await fillDemo(page, 12, 500);
  const { job, card } = await submit(page);
  const bar = progressOf(card);
  await expect.poll(async () => Number(await bar.getAttribute("aria-valuenow"))).toBeGreaterThanOrEqual(25);

  // The server-rendered page already shows the job running with its progress, before
  // any script runs.
  const html = await (await page.request.get("/")).text();
  expect(html).toMatch(new RegExp(`<li[^>]*data-job-id="${job.id}"[^>]*data-status="running"`));

  await page.reload();
  const reloaded = page.locator(`[data-job-id="${job.id}"]`);
  await expect(reloaded).toHaveAttribute("data-status", "running");
  expect(Number(await progressOf(reloaded).getAttribute("aria-valuenow"))).toBeGreaterThanOrEqual(25);
  await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
  await expect(reloaded).toHaveAttribute("data-status", "completed");
  await expect(progressOf(reloaded)).toHaveAttribute("aria-valuenow", "100");
});

test("invalid parameters are shown next to the field and start nothing", async ({ page }) => {
  await openDashboard(page);
  let posted = 0;
  page.on("request", (r) => {
    if (r.url().endsWith("/api/jobs") && r.method() === "POST") posted += 1;
  });
  // What the kind declares is checked in the page: nothing is sent.
  await fillDemo(page, 0, 100);
  await page.getByRole("button", { name: "Start job" }).click();
  await expect(page.getByTestId("error-demo-steps")).toContainText("between 1 and 100");
  await expect(page.getByLabel("Steps", { exact: true })).toHaveAttribute("aria-invalid", "true");
  expect(posted).toBe(0);
  // One field against another is the server's to check; its refusal lands at the field.
  const cards = await page.locator("[data-job-id]").count();
  await fillDemo(page, 3, 100, 7);
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/jobs") && r.request().method() === "POST"),
    page.getByRole("button", { name: "Start job" }).click(),
  ]);
  expect(refused.status()).toBe(422);
  await expect(page.getByTestId("error-demo-failAt")).toContainText("between 1 and 3");
  await expect(page.getByLabel("Fail at step")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("[data-job-id]")).toHaveCount(cards);
});
