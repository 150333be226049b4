import { test, expect, type Page } from "@playwright/test";
import { openDashboard, fillDemo, submit } from "./helpers";

/** Pretends the tab went out of sight (or came back), as switching tabs would. */
async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => (hidden ? "hidden" : "visible"),
    });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

function count(page: Page, filter: string) {
  return page.getByTestId(`filter-${filter}`).locator(".count");
}

test("filters show the jobs of each state with a count, and the title counts running jobs", async ({ page }) => {
  await openDashboard(page);
  await expect(page).toHaveTitle("Candor");

  await fillDemo(page, 1, 50);
  const done = await submit(page);
  await expect(done.card).toHaveAttribute("data-status", "completed");
  await fillDemo(page, 3, 50, 1);
  const failed = await submit(page);
  await expect(failed.card).toHaveAttribute("data-status", "failed");
  await fillDemo(page, 100, 200);
  const running = await submit(page);
  await expect(running.card).toHaveAttribute("data-status", "running");

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
