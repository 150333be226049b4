import { test, expect } from "@playwright/test";
import { openDashboard, progressOf, submit } from "./helpers";

/** A CSV file of `rows` good orders followed by one whose amount is not a number. */
function ordersWithBadRowAtEnd(rows: number): Buffer {
  const lines = ["id,date,customer,region,amount"];
  for (let id = 1; id <= rows; id++) {
    lines.push(`${id},2025-01-${String((id % 28) + 1).padStart(2, "0")},Customer ${id},North,${id}.50`);
  }
  lines.push(`${rows + 1},2025-01-01,Late,North,abc`);
  return Buffer.from(lines.join("\n") + "\n");
}

test("an upload with a bad row near its end shows progress, then the row that failed it", async ({ page }) => {
  await openDashboard(page);
  await page.getByLabel("Kind").selectOption("import");
  const rows = 300_000;
  await page.locator("#field-import-file").setInputFiles({
    name: "orders.csv",
    mimeType: "text/csv",
    buffer: ordersWithBadRowAtEnd(rows),
  });
  const { job, card } = await submit(page);
  expect(job.status).toBe("queued");
  await expect(card).toContainText("Import orders.csv");

  // Progress by bytes advances while the rows load...
  const bar = progressOf(card);
  await expect
    .poll(async () => Number(await bar.getAttribute("aria-valuenow")), { timeout: 30_000 })
    .toBeGreaterThan(0);
  await expect(card.getByTestId("step")).toContainText("Loading orders");
  await expect(card.getByTestId("processed")).toContainText(/[\d,]+ rows/);

  // ...then the job fails with the exact row (the header is row 1) and column.
  await expect(card).toHaveAttribute("data-status", "failed", { timeout: 60_000 });
  await expect(card.getByTestId("failure")).toContainText(
    `row ${rows + 2}, column amount: 'abc' is not a number`,
  );
  await expect(page.getByTestId("announcer")).toContainText("failed");
});

test("a file of the wrong type is refused at the field, and no job starts", async ({ page }) => {
  await openDashboard(page);
  const cards = await page.locator("[data-job-id]").count();
  await page.getByLabel("Kind").selectOption("import");
  await page.locator("#field-import-file").setInputFiles({
    name: "photo.png",
    mimeType: "image/png",
    buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47]),
  });
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/jobs") && r.request().method() === "POST"),
    page.getByRole("button", { name: "Start job" }).click(),
  ]);
  expect(refused.status()).toBe(415);
  await expect(page.getByTestId("error-import-file")).toContainText("not accepted");
  await expect(page.locator("[data-job-id]")).toHaveCount(cards);
});
