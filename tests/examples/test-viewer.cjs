// gst-metered — LGPL-2.1-or-later
//
// `scripts/demo.sh --browser` with examples/viewer/ in real Chromium (fake
// camera), inside netns-run.sh's namespace (port 8080 is free there):
// the page, running the real SDK bundle the demo copied from the npm
// package, decodes the pipeline's test pattern; after "Send my camera" the
// demo's meteredsrc gets the camera's video (its pad appears and its frame
// counter grows); Ctrl-C (SIGINT) stops the demo with status 0.
//
// argv: PATH/TO/scripts/demo.sh BUILDDIR. Env: NODE_PATH (playwright-core).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { ts, log, checkNamespace, launchChromium } = require('../js/lib/interop.cjs');

let demoExit = () => null;

async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (demoExit()) throw new Error(`the demo exited early (${JSON.stringify(demoExit())}) waiting for ${what}`);
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const [demo, builddir] = process.argv.slice(2);
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-viewer-'));
  const env = { ...process.env };
  const child = spawn(demo, ['--browser', '--no-build', '--builddir', builddir, '--port', '8080',
    '--out', path.join(tmp, 'out')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d) => {
    output += d.toString();
    for (const line of d.toString().split('\n')) if (line.trim()) log(`[demo] ${line.slice(0, 300)}`);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exit = null;
  const exited = new Promise((r) => child.on('close', (code, signal) => { exit = { code, signal }; r(exit); }));
  demoExit = () => exit;
  let ctx = null;
  const problems = [];
  try {
    await waitFor(() => /Open http:\/\/127\.0\.0\.1:8080\//.test(output), 30000, 'the demo to serve the page');
    ctx = await launchChromium(tmp);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e}`));
    const resp = await page.goto('http://127.0.0.1:8080/');
    if (!resp || resp.status() !== 200) throw new Error(`GET /: HTTP ${resp && resp.status()}`);
    await waitFor(() => page.evaluate(() => window.viewer.framesDecoded > 30), 40000,
      'the page to decode 30 frames of the test pattern');
    log(`page decoded ${await page.evaluate(() => window.viewer.framesDecoded)} frames`);
    await page.click('#camera');
    await waitFor(() => page.evaluate(() => window.viewer.cameraSent), 10000, 'the camera to be sent');
    await waitFor(() => /camera +pad video_\S+$/m.test(output), 40000, "the camera's video pad on meteredsrc");
    await waitFor(() => {
      const m = [...output.matchAll(/camera frames received (\d+)/g)];
      return m.length && +m[m.length - 1][1] > 30;
    }, 40000, 'meteredsrc to count 30 camera frames');
    const errs = await page.evaluate(() => window.viewer.errors);
    if (errs.length) problems.push(`SDK errors: ${errs.join(' | ')}`);
  } catch (e) {
    problems.push(String(e && e.stack || e));
  } finally {
    if (ctx) await ctx.close();
    child.kill('SIGINT');
    const k = setTimeout(() => child.kill('SIGKILL'), 15000);
    await exited;
    clearTimeout(k);
    if (exit.code !== 0) problems.push(`demo.sh --browser exited with ${JSON.stringify(exit)} after SIGINT`);
    if (/ERROR/.test(output)) problems.push('the demo printed an ERROR');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const p of problems) console.error(`${ts()} PROBLEM: ${p}`);
  log(problems.length ? 'FAIL' : 'PASS');
  return problems.length ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(1); });
