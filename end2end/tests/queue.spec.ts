import { expect, test } from "@playwright/test";
import { withBusyServer } from "./server";

// A server of its own with one worker: a job behind a running one says where it stands,
// live, and moves up when the one ahead leaves the line.
test("a queued job's card says where it stands in line and moves up live", async ({ page }) => {
  await withBusyServer(page, "queue", { CANDOR_WORKERS: "1" }, async (base) => {
    const start = async () => {
      const response = await page.request.post(`${base}/api/jobs`, {
        data: { kind: "demo", params: { steps: 100, stepMs: 60000 } },
      });
      expect(response.status()).toBe(202);
      return (await response.json()).id as string;
    };
    const running = await start();
    const card = (id: string) => page.locator(`[data-job-id="${id}"]`);
    await expect(card(running)).toHaveAttribute("data-status", "running");
    const second = await start();
    const third = await start();
    // A queued job's step is where it stands.
    await expect(card(second).getByTestId("step")).toHaveText("1st in line");
    await expect(card(third).getByTestId("step")).toHaveText("2nd in line");
    await expect(card(running).getByTestId("step")).not.toContainText("in line");

    // The one ahead is cancelled: the line moves up, with an estimate now that a job ended.
    await card(second).getByRole("button", { name: "Cancel" }).click();
    await expect(card(third).getByTestId("step")).toHaveText(/^1st in line · starts in about \d+ (s|min|h)$/);
    await expect(card(second).getByTestId("step")).not.toContainText("in line");
  });
});
