import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// The page's benchmarks (bench/page.sh): one at a time, on a server of their own.
export default defineConfig({
  ...base,
  testDir: "./bench",
  fullyParallel: false,
  workers: 1,
  timeout: 300_000,
});
