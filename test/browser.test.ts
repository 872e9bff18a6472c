// End-to-end: two real Chromium pages chatting through the real Node server.
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer } from './support/server.ts';

type Server = Awaited<ReturnType<typeof startServer>>;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const XSS = '<img src=x onerror=alert(1)>';

let server: Server | undefined;
let browser: Browser | undefined;
const dialogs: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens the chat in a fresh browser context (own localStorage), optionally with a saved name. */
async function openChat(room: string, savedName?: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1000, height: 700 } });
  if (savedName) {
    await context.addInitScript((name) => localStorage.setItem('edgechat:name', name), savedName);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${server!.baseUrl}/?room=${room}`);
  return page;
}

async function waitForStatus(page: Page, status: string): Promise<void> {
  await page.waitForFunction((s) => document.getElementById('status')?.textContent === s, status);
}

async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([sel, t]) => document.querySelector(sel)?.textContent?.includes(t) ?? false,
    [selector, text] as const,
  );
}

async function sendMessage(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text);
  await page.locator('#text').press('Enter');
}

/** The message list as a reader sees it: author, text and whether it is styled as own. */
async function messages(page: Page) {
  return page.$$eval('#messages .message', (items) =>
    items.map((item) => ({
      author: item.querySelector('.author')?.textContent,
      text: item.querySelector('.text')?.textContent,
      own: item.classList.contains('own'),
    })),
  );
}

test('two people chat in a room through the browser page', { timeout: 60_000 }, async () => {
  const room = `e2e-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

  // Ann has a saved name; the second visitor arrives as a guest and picks a name in the page.
  const ann = await openChat(room, 'ann');
  await waitForStatus(ann, 'connected');
  const bob = await openChat(room);
  await waitForStatus(bob, 'connected');
  await waitForText(bob, '#you', 'guest-');
  await bob.locator('#name').fill('bob');
  await bob.locator('#name').press('Enter');
  await waitForText(bob, '#you', 'bob');

  // Each sees the other in the member list, and the count.
  await waitForText(ann, '#members', 'bob');
  await waitForText(bob, '#members', 'ann');
  expect(await ann.textContent('#member-count')).toBe('2');
  expect(await bob.textContent('#member-count')).toBe('2');

  // A message and a reply travel both ways; own messages are marked.
  await sendMessage(ann, 'hello from ann');
  await waitForText(bob, '#messages', 'hello from ann');
  await waitForText(ann, '#messages', 'hello from ann');
  expect(await ann.inputValue('#text')).toBe('');
  await sendMessage(bob, 'hi ann, bob here');
  await waitForText(ann, '#messages', 'hi ann, bob here');
  await waitForText(bob, '#messages', 'hi ann, bob here');
  expect(await messages(ann)).toEqual([
    { author: 'ann', text: 'hello from ann', own: true },
    { author: 'bob', text: 'hi ann, bob here', own: false },
  ]);
  expect(await messages(bob)).toEqual([
    { author: 'ann', text: 'hello from ann', own: false },
    { author: 'bob', text: 'hi ann, bob here', own: true },
  ]);

  // Markup in a message is shown literally and never runs.
  await sendMessage(ann, XSS);
  for (const page of [ann, bob]) {
    await waitForText(page, '#messages', XSS);
    expect(await page.locator('#messages img').count()).toBe(0);
  }

  // Typing in one page shows "is typing" in the other; sending clears it.
  await ann.locator('#text').pressSequentially('still typ');
  await waitForText(bob, '#typing', 'ann is typing');
  await ann.locator('#text').press('Enter');
  await waitForText(bob, '#messages', 'still typ');
  await bob.waitForFunction(() => document.getElementById('typing')?.textContent === '');

  // Screenshots: desktop, and phone width. Keep bob "typing" so the indicator is visible.
  await bob.locator('#text').pressSequentially('see you');
  await waitForText(ann, '#typing', 'bob is typing');
  await mkdir('test-results', { recursive: true });
  await ann.screenshot({ path: 'test-results/chat.png' });
  await ann.setViewportSize({ width: 375, height: 740 });
  await ann.screenshot({ path: 'test-results/chat-phone.png' });
  const overflow = await ann.evaluate(() => document.documentElement.scrollWidth);
  expect(overflow).toBeLessThanOrEqual(375);
  await bob.locator('#text').fill('');

  // Close, miss a message, reopen: earlier messages stay and the missed one arrives once.
  await ann.getByRole('button', { name: 'Close' }).click();
  await waitForStatus(ann, 'closed');
  await waitForText(bob, '#member-count', '1');
  await sendMessage(bob, 'while you were away');
  await waitForText(bob, '#messages', 'while you were away');
  await ann.getByRole('button', { name: 'Open' }).click();
  await waitForStatus(ann, 'connected');
  await waitForText(ann, '#messages', 'while you were away');
  expect((await messages(ann)).map((m) => m.text)).toEqual([
    'hello from ann',
    'hi ann, bob here',
    XSS,
    'still typ',
    'while you were away',
  ]);
  await waitForText(bob, '#member-count', '2');

  expect(dialogs).toEqual([]);
  expect(pageErrors).toEqual([]);
});
