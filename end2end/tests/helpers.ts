import { expect, type Page, type Locator } from "@playwright/test";

export type Job = {
  id: string;
  status: string;
  params: Record<string, unknown>;
  resultUrl: string | null;
  retryOf: string | null;
};

/** Opens the page and waits until it is hydrated and its event stream is live. */
export async function openDashboard(page: Page) {
  await page.goto("/");
  await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
}

/** Fills the form for a demo job. */
export async function fillDemo(page: Page, steps: number, stepMs: number, failAt?: number) {
  await page.getByLabel("Kind").selectOption("demo");
  await page.getByLabel("Steps", { exact: true }).fill(String(steps));
  await page.getByLabel("Milliseconds per step").fill(String(stepMs));
  await page.getByLabel("Fail at step").fill(failAt === undefined ? "" : String(failAt));
}

/** Submits the form and returns the job the server accepted, and its card. */
export async function submit(page: Page): Promise<{ job: Job; card: Locator }> {
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) => r.url().endsWith("/api/jobs") && r.request().method() === "POST",
    ),
    page.getByRole("button", { name: "Start job" }).click(),
  ]);
  expect(response.status()).toBe(202);
  const job = (await response.json()) as Job;
  return { job, card: page.locator(`[data-job-id="${job.id}"]`) };
}

export function progressOf(card: Locator): Locator {
  return card.getByRole("progressbar");
}

/** Pretends the tab went out of sight (or came back), as switching tabs would. */
export async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => (hidden ? "hidden" : "visible"),
    });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

/** Starts a demo job with the form and waits until its card shows `status`. */
export async function runDemo(
  page: Page,
  status: "running" | "completed" | "failed",
  steps: number,
  stepMs: number,
  failAt?: number,
): Promise<{ job: Job; card: Locator }> {
  await fillDemo(page, steps, stepMs, failAt);
  const started = await submit(page);
  await expect(started.card).toHaveAttribute("data-status", status);
  return started;
}
