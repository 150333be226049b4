import { test, expect } from "@playwright/test";
import { fillDemo, openDashboard, progressOf, submit } from "./helpers";

test("the page works under its Content-Security-Policy, with nothing refused", async ({ page }) => {
  const refused: string[] = [];
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) refused.push(message.text());
  });
  page.on("pageerror", (error) => refused.push(error.message));
  const response = await page.goto("/");
  expect(response?.headers()["content-security-policy"]).toContain("script-src 'self' 'nonce-");
  await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");

  // Hydrated, streaming and styled: a job runs to the end with its bar filled.
  await fillDemo(page, 2, 100);
  const { card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "completed");
  await expect(progressOf(card)).toHaveAttribute("aria-valuenow", "100");
  expect(refused).toEqual([]);
});
