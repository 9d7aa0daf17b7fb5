// gst-metered — LGPL-2.1-or-later
//
// Hostile input the other way: a scripted server (Node `ws`, speaking the
// raw protocol) against our signalling client (metered-cli subscribe, the
// real libmetered client). Each connection the client makes gets one
// hostile frame after its subscribe is acknowledged:
//   1. a message frame of 1,048,577 UTF-16 units: the client closes 1009
//      (protocol doc §5, "Inbound frame cap (client)") and reconnects;
//   2. a message just under the cap: delivered, whole;
//   3. a message whose data is JSON nested 10,000 deep, then a normal one:
//      no crash, the normal one is delivered;
//   4. a text frame of invalid UTF-8: closed 1007, reconnect;
//   5. a message with lone surrogate escapes, then a normal one.
// Passes when each close code is the one named, the client reconnects
// after each, the good messages reach stdout, and it exits cleanly on
// SIGTERM.
//
// argv: PATH/TO/metered-cli
'use strict';

const { spawn } = require('child_process');
const WebSocket = require('ws');
const { ts, log } = require('../js/lib/interop.cjs');
const { waitFor } = require('../src/src-lib.cjs');

const CAP = 1048576;

// A message frame whose JSON text is exactly `total` characters long.
function messageOfLength(total, tag) {
  const head = `{"type":"message","channel":"c","from":"hostile","data":{"tag":"${tag}","pad":"`;
  const tail = '"}}';
  return head + 'x'.repeat(total - head.length - tail.length) + tail;
}

const SCRIPT = [
  { what: 'frame over the client cap', send: (ws) => ws.send(messageOfLength(CAP + 1, 'over')), close: 1009 },
  { what: 'frame just under the cap', send: (ws) => ws.send(messageOfLength(CAP - 16, 'under')), deliver: 'under' },
  { what: '10,000-deep JSON, then a normal message', send: (ws) => {
    ws.send(`{"type":"message","channel":"c","from":"hostile","data":${'['.repeat(10000)}${']'.repeat(10000)}}`);
    ws.send('{"type":"message","channel":"c","from":"hostile","data":{"tag":"after-deep"}}');
  }, deliver: 'after-deep' },
  { what: 'invalid UTF-8 text frame', send: (ws) => ws.send(Buffer.from('{"type":"message","data":"\xff\xfe"}', 'latin1'),
    { binary: false }), close: 1007 },
  { what: 'lone surrogates, then a normal message', send: (ws) => {
    ws.send('{"type":"message","channel":"c","from":"hostile","data":{"s":"\\ud800\\udc00\\ud800x\\udfff"}}');
    ws.send('{"type":"message","channel":"c","from":"hostile","data":{"tag":"after-surrogates"}}');
  }, deliver: 'after-surrogates' },
];

async function main() {
  const cli = process.argv[2];
  if (!cli) throw new Error('usage: hostile-server.cjs PATH/TO/metered-cli');
  const closes = []; // per connection: {code, reason}
  let conn = 0;
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, maxPayload: 1 << 20 });
  await new Promise((r) => wss.on('listening', r));
  wss.on('connection', (ws) => {
    const step = SCRIPT[conn];
    const index = conn++;
    ws.on('close', (code, reason) => { closes[index] = { code, reason: reason.toString() }; });
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'welcome', peerId: `cli-${index}`, expiresAt: null,
      serverTime: Math.floor(Date.now() / 1000), maxMessageSize: 65536 }));
    ws.on('message', (d) => {
      let f;
      try { f = JSON.parse(d.toString()); } catch (_) { return; }
      if (f.type === 'ping') ws.send('{"type":"pong"}');
      if (f.type !== 'subscribe') return;
      if (f.requestId) ws.send(JSON.stringify({ type: 'ack', requestId: f.requestId }));
      setTimeout(() => {
        ws.send(JSON.stringify({ type: 'presence', channel: f.channel, joined: [], left: [] }));
        if (step) {
          log(`connection ${index}: ${step.what}`);
          step.send(ws);
        }
      }, 20);
    });
  });
  const port = wss.address().port;

  const child = spawn(cli, ['--url', `ws://127.0.0.1:${port}`, '--key', 'pk_hostile', '--reconnect-initial-delay=100',
    'subscribe', 'c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d.toString(); });
  child.stderr.on('data', (d) => { err = (err + d.toString()).slice(-20000); });
  let exit = null;
  const exited = new Promise((r) => child.on('close', (code, signal) => { exit = { code, signal }; r(exit); }));
  const delivered = (tag) => out.split('\n').some((l) => {
    try { return JSON.parse(l).data.tag === tag; } catch (_) { return false; }
  });

  const problems = [];
  try {
    for (let i = 0; i < SCRIPT.length; i++) {
      const step = SCRIPT[i];
      if (step.close) {
        await waitFor(() => closes[i] || exit, 20000, `the client to close connection ${i} (${step.what})`);
        log(`connection ${i}: client closed ${closes[i] && closes[i].code} "${closes[i] && closes[i].reason}"`);
        if (!closes[i] || closes[i].code !== step.close) {
          problems.push(`${step.what}: expected close ${step.close}, got ${JSON.stringify(closes[i])}`);
        }
        await waitFor(() => conn > i + 1 || exit, 20000, `a reconnect after ${step.what}`);
      } else {
        await waitFor(() => delivered(step.deliver) || exit, 20000, `"${step.deliver}" on stdout (${step.what})`);
        if (step.deliver === 'under') {
          const line = out.split('\n').find((l) => l.includes('"tag":"under"'));
          log(`connection ${i}: delivered ${line.length} characters`);
        }
        if (closes[i]) problems.push(`${step.what}: the client closed ${closes[i].code}`);
        // The next step needs a fresh connection: drop this one.
        if (i + 1 < SCRIPT.length) {
          for (const c of wss.clients) c.close(1012, 'next step');
          await waitFor(() => conn > i + 1 || exit, 20000, `a reconnect after ${step.what}`);
        }
      }
      if (exit) throw new Error(`metered-cli exited: ${JSON.stringify(exit)}\n${err}`);
    }
    child.kill('SIGTERM');
    const k = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(k);
    if (exit.signal || exit.code !== 0) problems.push(`metered-cli exit on SIGTERM: ${JSON.stringify(exit)}`);
    if (/CRITICAL/.test(err)) problems.push(`criticals on stderr:\n${err.slice(-3000)}`);
    // The deep frame is dropped, with a warning that says so.
    if (!/dropped an inbound frame/.test(err)) problems.push('no warning for the dropped 10,000-deep frame');
  } catch (e) {
    problems.push(String(e && e.stack || e));
    child.kill('SIGKILL');
  }
  wss.close();
  if (problems.length) {
    console.error(`${ts()} FAIL:\n${problems.join('\n')}\n---- metered-cli stderr (tail) ----\n${err.slice(-4000)}`);
    return 1;
  }
  log('PASS hostile server');
  return 0;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (110 s) reached`);
  process.exit(1);
}, 110000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
