import { test, expect, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { openDashboard, runDemo } from "./helpers";

/** axe-core's serious and critical findings (WCAG 2.1 A and AA rules), one line each. */
async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

for (const colorScheme of ["light", "dark"] as const) {
  test(`no serious or critical axe findings when empty, running, completed and failed (${colorScheme})`, async ({ page }) => {
    await page.emulateMedia({ colorScheme });
    await openDashboard(page);
    expect(await seriousViolations(page), "empty").toEqual([]);

    await runDemo(page, "completed", 1, 50);
    expect(await seriousViolations(page), "completed").toEqual([]);

    const failed = await runDemo(page, "failed", 2, 50, 1);
    expect(await seriousViolations(page), "failed").toEqual([]);
    await failed.card.getByTestId("log").locator("summary").click();
    await failed.card.getByTestId("timeline").locator("summary").click();
    await expect(failed.card.getByRole("log")).toBeVisible();
    expect(await seriousViolations(page), "failed, its log and timeline open").toEqual([]);

    const running = await runDemo(page, "running", 100, 300);
    expect(await seriousViolations(page), "running").toEqual([]);

    await page.getByTestId("filter-failed").click();
    expect(await seriousViolations(page), "filtered").toEqual([]);
    await page.getByTestId("filter-all").click();
    await running.card.getByRole("button", { name: "Cancel" }).click();
    await expect(running.card).toHaveAttribute("data-status", "cancelled");
  });
}

test("a job can be started, followed and cancelled from the keyboard alone", async ({ page }) => {
  await openDashboard(page);
  await page.getByLabel("Kind").focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("100");
  await page.keyboard.press("Tab");
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("300");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/jobs") && r.request().method() === "POST"),
    page.keyboard.press("Enter"),
  ]);
  expect(response.status()).toBe(202);
  const job = await response.json();
  const card = page.locator(`[data-job-id="${job.id}"]`);
  await expect(card).toHaveAttribute("data-status", "running");

  // Tab on until the card's Cancel button has the focus, then press it.
  const cancel = card.getByRole("button", { name: "Cancel" });
  for (let i = 0; i < 30 && !(await cancel.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(cancel).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(card).toHaveAttribute("data-status", "cancelled");
});
