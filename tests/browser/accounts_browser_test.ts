/**
 * The page's Account form against the real server. These need the server side of accounts
 * (issue 16: RegisterRequest, Hello.password, --allow-plaintext-passwords); until it is
 * merged they fail. The same form against a scripted server is in accounts_page_test.ts.
 */
import assert from "node:assert/strict";
import * as playwright from "playwright-core";
import { freePort } from "../support/client_process.ts";
import { ServerProcess } from "../support/server_process.ts";
import { waitForLine } from "../support/wait_for_line.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const WAIT_MS = 10_000;

Deno.test("browser accounts (real server) - register on one page, then log in as that nickname on another", async () => {
  const httpPort = freePort();
  // Plain HTTP in the test: the server must take passwords over it.
  await using server = await ServerProcess.start([
    "--http-port",
    String(httpPort),
    "--allow-plaintext-passwords",
  ]);
  await server.stdout.waitFor(`open http://127.0.0.1:${httpPort} in a browser`, WAIT_MS);
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    timeout: 30_000,
  });
  try {
    const open = async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://127.0.0.1:${httpPort}/`);
      await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
      return page;
    };
    const first = await open();
    await first.fill("#nickname", "alice");
    await first.press("#nickname", "Enter");
    await waitForLine(first, "* you are now alice");
    await first.click("#account summary");
    await first.fill("#account-password", "secret123");
    await first.click("#account-register");
    await waitForLine(
      first,
      "* alice is registered; log in with its password to take it next time",
    );
    await first.close();

    const second = await open();
    await second.fill("#nickname", "alice");
    await second.press("#nickname", "Enter");
    await waitForLine(
      second,
      /"alice" is registered.* - if it is yours, log in with its password$/,
    );
    await second.fill("#account-password", "wrong-password");
    await second.click("#account-login");
    await waitForLine(second, /^! .* - check the password$/);
    await second.fill("#account-password", "secret123");
    await second.click("#account-login");
    await waitForLine(second, "* you are identified as alice");
    await second.waitForSelector("#status:text-matches('^connected as alice')", {
      timeout: WAIT_MS,
    });
    const logged = server.stdout.text + server.stderr.text;
    assert.ok(!logged.includes("secret123") && !logged.includes("wrong-password"));
  } finally {
    await browser.close();
  }
});
