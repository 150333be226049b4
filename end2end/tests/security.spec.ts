import { test, expect } from "@playwright/test";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fillDemo, openDashboard, progressOf, submit } from "./helpers";

test("the page works under its Content-Security-Policy, with nothing refused", async ({ page }) => {
  const refused: string[] = [];
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) refused.push(message.text());
  });
  page.on("pageerror", (error) => refused.push(error.message));
  const response = await page.goto("/");
  // `headerValue` waits for the raw headers; `headers()` may not list security headers yet.
  expect(await response?.headerValue("content-security-policy")).toContain(
    "script-src 'self' 'nonce-",
  );
  await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");

  // Hydrated, streaming and styled: a job runs to the end with its bar filled.
  await fillDemo(page, 2, 100);
  const { card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "completed");
  await expect(progressOf(card)).toHaveAttribute("aria-valuenow", "100");
  expect(refused).toEqual([]);
});

test("two browsers each see only their own jobs, live and after a reload", async ({ browser }) => {
  const alice = await browser.newContext();
  const bob = await browser.newContext();
  const [a, b] = await Promise.all([alice.newPage(), bob.newPage()]);
  await Promise.all([openDashboard(a), openDashboard(b)]);

  // Long enough (5 s) that Alice's job is still running once Bob's has started, even on a
  // slow machine: each is seen running right after its own submit.
  await fillDemo(a, 20, 250);
  const { job: alicesJob, card: alicesCard } = await submit(a);
  await expect(alicesCard).toHaveAttribute("data-status", "running");
  await fillDemo(b, 20, 250);
  const { job: bobsJob, card: bobsCard } = await submit(b);
  await expect(bobsCard).toHaveAttribute("data-status", "running");
  // Both run at the same time, each on its own page only.
  await expect(a.locator("[data-job-id]")).toHaveCount(1);
  await expect(b.locator("[data-job-id]")).toHaveCount(1);
  await expect(alicesCard).toHaveAttribute("data-status", "completed");
  await expect(bobsCard).toHaveAttribute("data-status", "completed");
  await expect(a.locator("[data-job-id]")).toHaveCount(1);
  await expect(b.locator("[data-job-id]")).toHaveCount(1);
  await expect(a.locator(`[data-job-id="${bobsJob.id}"]`)).toHaveCount(0);
  await expect(b.locator(`[data-job-id="${alicesJob.id}"]`)).toHaveCount(0);

  // The server's first paint agrees, and the API answers Bob as if Alice's job were not there.
  await b.reload();
  await expect(b.getByTestId("connection")).toHaveAttribute("data-state", "live");
  await expect(b.locator("[data-job-id]")).toHaveCount(1);
  await expect(b.locator(`[data-job-id="${bobsJob.id}"]`)).toHaveAttribute("data-status", "completed");
  expect((await b.request.get(`/api/jobs/${alicesJob.id}`)).status()).toBe(404);
  expect((await a.request.get(`/api/jobs/${alicesJob.id}`)).status()).toBe(200);

  // The identity is a locked-down cookie that the page's scripts cannot read.
  const session = (await alice.cookies()).find((c) => c.name === "candor_session");
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe("Lax");
  expect(await a.evaluate(() => document.cookie)).not.toContain("candor_session");
  await Promise.all([alice.close(), bob.close()]);
});

test("another site's page cannot start a job with the user's cookie", async ({ page }) => {
  await openDashboard(page);
  const site = new URL(page.url());
  // A page of another origin: the same host on another port is the same *site* (the
  // cookie's SameSite=Lax lets it through; the server's Origin check must stop it), and
  // "localhost" is another site altogether (the browser keeps the cookie back).
  const evil = createServer((_, response) => {
    response.setHeader("content-type", "text/html");
    response.end("<!doctype html><title>not Candor</title>");
  });
  await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
  const port = (evil.address() as AddressInfo).port;
  const jobs = async () => (await (await page.request.get("/api/jobs")).json()).jobs.length;
  const before = await jobs();
  try {
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const attacker = await page.context().newPage();
      await attacker.goto(`${origin}/`);
      // A form post needs no CORS preflight, so it is sent; only its answer is hidden.
      const sent = await attacker.evaluate(async (target) => {
        const body = new FormData();
        body.append("kind", "demo");
        body.append("steps", "1");
        body.append("stepMs", "0");
        const response = await fetch(target, {
          method: "POST",
          body,
          mode: "no-cors",
          credentials: "include",
        });
        return response.type;
      }, `${site.origin}/api/jobs`);
      expect(sent).toBe("opaque");
      await attacker.close();
    }
  } finally {
    evil.close();
  }
  expect(await jobs()).toBe(before);
  // The page's own request still works.
  await fillDemo(page, 1, 0);
  const { card } = await submit(page);
  await expect(card).toHaveAttribute("data-status", "completed");
  expect(await jobs()).toBe(before + 1);
});
