import { test, expect } from "@playwright/test";
import path from "node:path";
import { openDashboard, fillDemo, runDemo, submit } from "./helpers";

// The README's pictures: the page in its main states, wide and phone-sized, light and
// dark. Written to target/screenshots/ on every run; .github/screenshots/ holds the ones
// the README shows, copied from a run.
const out = path.resolve(__dirname, "../../target/screenshots");

const layouts = [
  { name: "wide-light", viewport: { width: 1280, height: 900 }, colorScheme: "light" as const },
  { name: "wide-dark", viewport: { width: 1280, height: 900 }, colorScheme: "dark" as const },
  { name: "phone-light", viewport: { width: 390, height: 844 }, colorScheme: "light" as const },
];

for (const layout of layouts) {
  test(`screenshots: empty, then running, completed and failed jobs (${layout.name})`, async ({ page }) => {
    await page.setViewportSize(layout.viewport);
    await page.emulateMedia({ colorScheme: layout.colorScheme });
    await openDashboard(page);
    await page.screenshot({ path: `${out}/empty-${layout.name}.png`, fullPage: true });

    // An export, which counts its rows; a demo that failed, with its timeline open; and
    // one running, with its log open.
    await page.getByLabel("Kind").selectOption("export");
    await page.getByLabel("Source").selectOption("sample");
    await page.getByLabel("Rows").fill("500000");
    const exported = await submit(page);
    await expect(exported.card).toHaveAttribute("data-status", "completed", { timeout: 60_000 });
    await expect(exported.card.getByTestId("processed")).toContainText("500,000 rows");
    const failed = await runDemo(page, "failed", 4, 400, 3);
    await failed.card.getByTestId("timeline").locator("summary").click();
    await fillDemo(page, 100, 250);
    const running = await submit(page);
    await expect(running.card.getByRole("progressbar")).not.toHaveAttribute("aria-valuenow", "0");
    await expect(running.card).toContainText("left");
    await expect(running.card.getByTestId("log")).toBeVisible();
    await running.card.getByTestId("log").locator("summary").click();
    await page.screenshot({ path: `${out}/jobs-${layout.name}.png`, fullPage: true });

    await running.card.getByRole("button", { name: "Cancel" }).click();
    await expect(running.card).toHaveAttribute("data-status", "cancelled");
  });
}
