import { test, expect, type Page } from "@playwright/test";
import { openDashboard, runDemo } from "./helpers";

/** How many event streams the server holds open for this browser. */
async function openStreams(page: Page): Promise<number> {
  const response = await page.request.get("/api/streams");
  expect(response.status()).toBe(200);
  return (await response.json()).open;
}

test("the tabs of one browser share one event stream, and another tab takes it over when its tab closes", async ({ context }) => {
  const tabs: Page[] = [];
  for (let i = 0; i < 5; i++) {
    const tab = await context.newPage();
    await openDashboard(tab);
    tabs.push(tab);
  }
  // Five tabs, every one live, one stream on the server.
  await expect.poll(() => openStreams(tabs[4])).toBe(1);

  // A job started in the last tab runs live in all of them.
  const { job } = await runDemo(tabs[4], "running", 4, 500);
  for (const tab of tabs) {
    const card = tab.locator(`[data-job-id="${job.id}"]`);
    await expect(card).toHaveAttribute("data-status", "completed");
    await expect(card.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
  }

  // The first tab opened holds the stream; close it, and the others go on with one.
  await tabs[0].close();
  const left = tabs.slice(1);
  const next = await runDemo(left[0], "running", 4, 500);
  for (const tab of left) {
    await expect(tab.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await expect(tab.locator(`[data-job-id="${next.job.id}"]`)).toHaveAttribute(
      "data-status",
      "completed",
    );
  }
  // The closed tab's stream ends on the server when its connection is seen gone (at the
  // latest at the next keep-alive).
  await expect.poll(() => openStreams(left[0]), { timeout: 40_000 }).toBe(1);
});
