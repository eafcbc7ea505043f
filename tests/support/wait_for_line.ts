import type * as playwright from "playwright-core";

declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
};

/** Waits for a line, exact or matching, in the page's message list shown. */
export async function waitForLine(
  page: playwright.Page,
  line: string | RegExp,
  timeoutMs = 10_000,
): Promise<void> {
  const pattern = typeof line === "string" ? undefined : line.source;
  await page.waitForFunction(
    ({ text, pattern }) =>
      Array.from(document.querySelectorAll("#messages li")).some((item) =>
        pattern === undefined
          ? item.textContent === text
          : new RegExp(pattern).test(item.textContent ?? "")
      ),
    { text: typeof line === "string" ? line : "", pattern },
    { timeout: timeoutMs, polling: 50 },
  );
}
