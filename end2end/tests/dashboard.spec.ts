import { test, expect, type Page } from "@playwright/test";
import { openDashboard, fillDemo, runDemo, setHidden, submit } from "./helpers";

function count(page: Page, filter: string) {
  return page.getByTestId(`filter-${filter}`).locator(".count");
}

test("filters show the jobs of each state with a count, and the title counts running jobs", async ({ page }) => {
  await openDashboard(page);
  await expect(page).toHaveTitle("Candor");

  const done = await runDemo(page, "completed", 1, 50);
  const failed = await runDemo(page, "failed", 3, 50, 1);
  const running = await runDemo(page, "running", 100, 200);

  await expect(page).toHaveTitle("1 running · Candor");
  await expect(count(page, "all")).toHaveText("3");
  await expect(count(page, "running")).toHaveText("1");
  await expect(count(page, "failed")).toHaveText("1");
  await expect(count(page, "completed")).toHaveText("1");

  // The first paint, before any script, already says so.
  const html = await (await page.request.get("/")).text();
  expect(html).toContain("<title>1 running · Candor</title>");

  const cards = page.getByTestId("job-list").locator("[data-job-id]");
  await page.getByTestId("filter-failed").click();
  await expect(page.getByTestId("filter-failed")).toHaveAttribute("aria-pressed", "true");
  await expect(cards).toHaveCount(1);
  await expect(failed.card).toBeVisible();

  await page.getByTestId("filter-completed").click();
  await expect(cards).toHaveCount(1);
  await expect(done.card).toBeVisible();

  await page.getByTestId("filter-running").click();
  await expect(cards).toHaveCount(1);
  await running.card.getByRole("button", { name: "Cancel" }).click();
  // Cancelled: it leaves the running list (live), and the title.
  await expect(page.getByText("Nothing is running.")).toBeVisible();
  await expect(count(page, "running")).toHaveText("0");
  await expect(page).toHaveTitle("Candor");

  await page.getByTestId("filter-all").click();
  await expect(cards).toHaveCount(3);
});

test("a failure while the tab is out of sight is flagged in its title until the tab is seen", async ({ page }) => {
  await openDashboard(page);
  await fillDemo(page, 3, 100, 2);
  await setHidden(page, true);
  const { card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "failed");
  await expect(page).toHaveTitle("⚠ 1 failed · Candor");
  await setHidden(page, false);
  await expect(page).toHaveTitle("Candor");
});

test("desktop notifications are asked for only on a click, and tell of jobs that end out of sight", async ({ page }) => {
  // The browser's Notification, recorded instead of shown; permission starts unasked.
  await page.addInitScript(() => {
    const shown: { title: string; body?: string }[] = [];
    let asked = 0;
    class RecordedNotification {
      static permission = "default";
      static requestPermission() {
        asked += 1;
        RecordedNotification.permission = "granted";
        return Promise.resolve("granted");
      }
      constructor(title: string, options?: { body?: string }) {
        shown.push({ title, body: options?.body });
      }
    }
    (window as any).Notification = RecordedNotification;
    (window as any).__notifications = { shown, asked: () => asked };
  });
  const shown = () => page.evaluate(() => (window as any).__notifications.shown);
  await openDashboard(page);
  const button = page.getByTestId("notifications");
  await expect(button).toHaveAttribute("aria-pressed", "false");
  expect(await page.evaluate(() => (window as any).__notifications.asked())).toBe(0);

  await button.click();
  await expect(button).toHaveAttribute("aria-pressed", "true");
  await expect(button).toHaveText("Notifications on");
  expect(await page.evaluate(() => (window as any).__notifications.asked())).toBe(1);

  // In sight, a job's end is on the page itself: no notification for it (the one below
  // must be the only one).
  await runDemo(page, "completed", 1, 50);
  await setHidden(page, true);
  await runDemo(page, "failed", 3, 50, 2);
  await expect.poll(shown).toEqual([
    { title: "Candor", body: expect.stringContaining("Demo: 3 steps, fails at step 2 failed") },
  ]);

  // Turned off, it stays quiet.
  await setHidden(page, false);
  await button.click();
  await expect(button).toHaveAttribute("aria-pressed", "false");
  await setHidden(page, true);
  await runDemo(page, "completed", 1, 50);
  // On again (the browser is not asked twice): the next failure is the second and last
  // notification, so the job that ended while they were off made none.
  await setHidden(page, false);
  await button.click();
  await expect(button).toHaveAttribute("aria-pressed", "true");
  await setHidden(page, true);
  await runDemo(page, "failed", 2, 50, 1);
  await expect.poll(shown).toEqual([
    { title: "Candor", body: expect.stringContaining("Demo: 3 steps, fails at step 2 failed") },
    { title: "Candor", body: expect.stringContaining("Demo: 2 steps, fails at step 1 failed") },
  ]);
  expect(await page.evaluate(() => (window as any).__notifications.asked())).toBe(1);
});
