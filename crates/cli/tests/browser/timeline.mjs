// Opens an evidence bundle's timeline.html in headless Chromium and prints what a reader
// sees as JSON: title, counts of rows, the first row, errors, and any request the page made
// (a self-contained page makes none). Usage: node timeline.mjs FILE
import { chromium } from 'playwright-core';

const file = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.MIDWATCH_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  await page.goto('file://' + file, { waitUntil: 'load' });
  const seen = await page.evaluate(() => ({
    title: document.title,
    heading: document.querySelector('h1')?.textContent ?? null,
    count: document.querySelector('#count')?.textContent ?? null,
    timelineRows: document.querySelectorAll('#timeline tr').length - 1,
    findingRows: Math.max(0, document.querySelectorAll('#findings tr').length - 1),
    erasedRows: document.querySelectorAll('#timeline tr.erased, #timeline tr[class$="erased"]').length,
    firstRow: [...document.querySelectorAll('#timeline tr:nth-child(2) td')].map((td) => td.textContent),
    visibleText: document.body.innerText.length,
  }));
  await page.screenshot({ path: file + '.png', fullPage: true });
  console.log(JSON.stringify({ ...seen, errors, requests }));
} finally {
  await browser.close();
}
