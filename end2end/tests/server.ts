import { expect, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

// Tests that restart, pause or configure a server run one of their own: the binary
// cargo-leptos just built, on a free port, with its own data directory.
const root = path.resolve(__dirname, "../..");

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Starts the server on `port` with `dataDir`, plus `env`; resolves once it serves. */
export function startServer(
  port: number,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  // CANDOR_BINARY: another build (the benchmarks run the release one).
  const binary = process.env.CANDOR_BINARY ?? "target/debug/candor";
  const child = spawn(path.resolve(root, binary), [], {
    cwd: root,
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "target/site",
      LEPTOS_OUTPUT_NAME: "candor",
      CANDOR_DATA_DIR: dataDir,
      NO_COLOR: "1",
      RUST_LOG: "info,sqlx=warn,tower_http=warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("serving")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`server exited (${code}):\n${output}`)));
  });
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** A server of its own whose limits let one browser start thousands of jobs, with `page`
 * open on it and live: runs `body` with the server's base URL, then stops the server
 * and removes its data. */
export async function withBusyServer(
  page: Page,
  name: string,
  env: Record<string, string>,
  body: (base: string) => Promise<void>,
): Promise<void> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), `candor-${name}-`));
  const server = await startServer(port, dataDir, {
    CANDOR_OWNER_JOBS_PER_MINUTE: "1000000",
    CANDOR_ADDRESS_JOBS_PER_MINUTE: "10000000",
    CANDOR_OWNER_MAX_IN_FLIGHT: "100000",
    ...env,
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await page.goto(`${base}/`);
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await body(base);
  } finally {
    await killHard(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
