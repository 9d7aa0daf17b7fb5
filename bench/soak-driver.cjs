// gst-metered — LGPL-2.1-or-later
//
// Soak driver (issue 8): metered-server --dev, meteredsink (metered-sink-tool:
// a live test pattern) -> meteredsrc (meteredsrc-tool: fakesinks with a
// buffer counter per pad), then N signalling drop/reconnect cycles through
// the admin API (POST /v1/peers/{id}/drop), alternating receiver and
// sender. Each cycle waits, with a bound, until the dropped side has
// reconnected, the server lists both peers again and video buffers reach
// meteredsrc's pad again, before the next drop.
//
// Every --every cycles it samples the resident set (VmRSS of
// /proc/PID/status), open fds (/proc/PID/fd) and threads (/proc/PID/task)
// of the sender, receiver and server processes, prints them as a table, and
// at the end prints the RSS slope (KB per cycle, least squares over the
// samples from --warmup on) and the fd and thread change since the warm-up
// sample. Exit status 1 when a wait times out, an element posts an error, a
// process exits, or growth exceeds a bound:
//   --max-kb-per-cycle X   RSS slope of each process over the second half
//                          of the cycles after --warmup (default 2; 0 = RSS
//                          not judged, for AddressSanitizer builds)
//   --max-fd-growth N      fds at the end minus at the warm-up (default 4)
//   --max-thread-growth N  same for threads (default 4)
//
// Run inside tests/browser/netns-run.sh (WebRTC needs its veth pair):
//   netns-run.sh node bench/soak-driver.cjs --cycles 1000 --every 100 \
//     --src-tool BUILD/tests/src/meteredsrc-tool \
//     --sink-tool BUILD/tests/sink/metered-sink-tool
// Env: METERED_SERVER, GST_PLUGIN_PATH (bench/soak.sh sets both).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { spawn, execFileSync } = require('child_process');
const { log, requireEnv, checkNamespace, stopServer } = require('../tests/js/lib/interop.cjs');
const { waitFor, startServerOn, admin } = require('../tests/src/src-lib.cjs');

// A --dev token that outlives the run (src-lib's last 15 min; a 1000-cycle
// soak takes about that long, and an expired token would end it with 4002).
function mint(exe, sub) {
  return execFileSync(exe, ['--mint-token', '--dev', '--sub', sub, '--ttl', '14400']).toString().trim();
}

const VIDEO = 'video_z-sink_camera';

function parseArgs(argv) {
  const o = {
    cycles: 1000, every: 100, warmup: null, maxKbPerCycle: 2, maxFdGrowth: 4,
    maxThreadGrowth: 4, srcTool: null, sinkTool: null, waitMs: 30000, output: 'encoded',
  };
  const names = {
    '--cycles': 'cycles', '--every': 'every', '--warmup': 'warmup',
    '--max-kb-per-cycle': 'maxKbPerCycle', '--max-fd-growth': 'maxFdGrowth',
    '--max-thread-growth': 'maxThreadGrowth', '--src-tool': 'srcTool', '--sink-tool': 'sinkTool',
    '--wait-ms': 'waitMs', '--output': 'output',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = names[argv[i]];
    if (!k || i + 1 >= argv.length) throw new Error(`unknown or incomplete option ${argv[i]}`);
    o[k] = /Tool$|^output$/.test(k) ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (o.warmup === null) o.warmup = Math.min(o.every, o.cycles);
  for (const t of ['srcTool', 'sinkTool']) {
    if (!o[t] || !fs.existsSync(o[t])) throw new Error(`--${t === 'srcTool' ? 'src' : 'sink'}-tool PATH is needed`);
  }
  return o;
}

// A tool printing JSON lines: counts bus events by name and keeps the last
// status line; errors and the output tail are kept for the failure report.
function startJsonTool(name, exe, args, stdin) {
  const env = { ...process.env, GST_DEBUG: process.env.GST_DEBUG || '*:1', GST_DEBUG_NO_COLOR: '1' };
  const child = spawn(exe, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env });
  const t = { name, child, status: null, bus: {}, errors: [], tail: '', report: null, exit: null };
  const keep = (s) => {
    t.tail = (t.tail + s).slice(-20000);
    // A sanitizer's report (it may be long): kept whole, up to 300 KB.
    if (t.report === null && /==\d+==ERROR: |runtime error: /.test(s)) t.report = '';
    if (t.report !== null && t.report.length < 300000) t.report += s;
  };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let e;
      try { e = JSON.parse(line); } catch (_) { keep(line + '\n'); continue; }
      if (e.event === 'status') { t.status = e; continue; }
      keep(line + '\n');
      if (e.event === 'bus') t.bus[e.name] = (t.bus[e.name] || 0) + 1;
      if (e.event === 'error') { t.errors.push(line); log(`[${name}] ${line}`); }
    }
  });
  child.stderr.on('data', (d) => keep(d.toString()));
  t.exited = new Promise((r) => child.on('close', (code, signal) => {
    t.exit = { code, signal };
    r(t.exit);
  }));
  t.connected = () => t.bus['metered/connected'] || 0;
  t.stop = async (how) => {
    if (!t.exit) {
      if (how === 'quit') child.stdin.write('quit\n');
      else child.kill('SIGTERM');
      const k = setTimeout(() => child.kill('SIGKILL'), 15000);
      await t.exited;
      clearTimeout(k);
    }
    return t.exit;
  };
  return t;
}

function getJson(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: urlPath,
      headers: { Authorization: 'Bearer admin_dev_local' } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try { resolve(JSON.parse(body)); } catch (e) { reject(e); }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function sample(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return {
    rss: m ? +m[1] : NaN,
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    threads: fs.readdirSync(`/proc/${pid}/task`).length,
  };
}

// Least-squares slope of y over x.
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-soak-'));
  const webRoot = path.join(tmp, 'www');
  fs.mkdirSync(webRoot);
  let srv = null;
  let src = null;
  let sink = null;
  let ok = false;
  const problems = [];
  const rows = [];
  const t0 = Date.now();
  try {
    srv = startServerOn(exe, webRoot, tmp, 0);
    const port = await srv.port;
    const channel = `soak-${process.pid}`;
    const url = `ws://127.0.0.1:${port}`;
    src = startJsonTool('src', o.srcTool, ['--', `url=${url}`, `token=${mint(exe, 'a-src')}`,
      `channel=${channel}`, `output=${o.output}`, 'reconnect-initial-delay=100',
      'reconnect-max-delay=1000'], true);
    // The sender joins once meteredsrc is in the channel (see src-sink.cjs:
    // track metadata from a peer not yet known would be dropped).
    await waitFor(() => src.connected() > 0, o.waitMs, 'meteredsrc to connect');
    sink = startJsonTool('sink', o.sinkTool, ['--url', url, '--token', mint(exe, 'z-sink'),
      '--channel', channel, '--metadata', 'meta,role=camera', '--width', '160', '--height', '120',
      '--fps', '15', '--duration', '86400', '--status-ms', '250']);
    const procs = { sender: sink.child, receiver: src.child, server: srv.child };
    const frames = () => (src.status && src.status.pads[VIDEO] ? src.status.pads[VIDEO].buffers : 0);
    const alive = () => {
      for (const t of [src, sink]) {
        if (t.exit) throw new Error(`${t.name} exited ${JSON.stringify(t.exit)}`);
        if (t.errors.length) throw new Error(`${t.name} posted errors: ${t.errors.join(' | ')}`);
      }
      if (srv.exit) throw new Error(`metered-server exited ${JSON.stringify(srv.exit)}`);
      return true;
    };
    await waitFor(() => alive() && sink.connected() > 0 && frames() >= 15, o.waitMs * 2,
      'video buffers on meteredsrc');
    const both = async () => {
      const peers = await getJson(port, '/v1/peers');
      const ids = peers.filter((p) => (p.channels || []).includes(channel)).map((p) => p.peerId);
      return ids.includes('a-src') && ids.includes('z-sink');
    };
    const take = (cycle) => {
      const row = { cycle, seconds: (Date.now() - t0) / 1000 };
      for (const [n, c] of Object.entries(procs)) row[n] = sample(c.pid);
      rows.push(row);
      const cell = (s) => `${String(s.rss).padStart(8)} ${String(s.fds).padStart(4)} ${String(s.threads).padStart(4)}`;
      if (rows.length === 1) {
        log('cycle  time(s) | sender RSS(KB) fds thr | receiver RSS(KB) fds thr | server RSS(KB) fds thr');
      }
      log(`${String(cycle).padStart(5)} ${row.seconds.toFixed(0).padStart(8)} | ${cell(row.sender)}    ` +
        `| ${cell(row.receiver)}      | ${cell(row.server)}`);
    };
    take(0);
    for (let c = 1; c <= o.cycles; c++) {
      const side = c % 2 ? src : sink;
      const id = c % 2 ? 'a-src' : 'z-sink';
      const before = side.connected();
      const st = await admin(port, 'POST', `/v1/peers/${id}/drop`);
      if (st !== 204) throw new Error(`cycle ${c}: drop ${id}: HTTP ${st}`);
      await waitFor(() => alive() && side.connected() > before, o.waitMs,
        `cycle ${c}: ${id} to reconnect`);
      await waitFor(both, o.waitMs, `cycle ${c}: the server to list both peers`);
      const f0 = frames();
      await waitFor(() => alive() && frames() >= f0 + 3, o.waitMs, `cycle ${c}: video buffers to flow`);
      if ((c % o.every === 0 || c === o.warmup) && c !== o.cycles) take(c);
    }
    // Stopped connections close their sockets and threads on threads of
    // their own, later under AddressSanitizer: wait (bounded) for fds and
    // threads to be back within their bounds, then take the last sample.
    const warm = rows.find((r) => r.cycle >= o.warmup);
    const settled = () => Object.entries(procs).every(([n, c]) => {
      const now = sample(c.pid);
      return now.fds - warm[n].fds <= o.maxFdGrowth && now.threads - warm[n].threads <= o.maxThreadGrowth;
    });
    try {
      await waitFor(settled, o.waitMs, 'fds and threads to settle');
    } catch (e) {
      log(String(e.message || e));
    }
    take(o.cycles);
    // ...and the media still flows after all that.
    const fEnd = frames();
    await waitFor(() => alive() && frames() >= fEnd + 3, o.waitMs, 'video buffers to flow at the end');

    // Growth from the warm-up sample on (the first cycles allocate one-time
    // state: codecs, GLib/GStreamer type and quark tables, malloc arenas).
    // The RSS bound applies to the slope over the second half of that
    // stretch: malloc's heap still settles over the first hundreds of
    // cycles (see bench/soak.sh), a leak keeps its slope to the end.
    const judged = rows.filter((r) => r.cycle >= o.warmup);
    const first = judged[0];
    const last = rows[rows.length - 1];
    const mid = first.cycle + (last.cycle - first.cycle) / 2;
    const tail = judged.filter((r) => r.cycle >= mid);
    log(`growth from cycle ${first.cycle} to ${last.cycle} (RSS slope judged from cycle ${tail[0].cycle}):`);
    for (const n of Object.keys(procs)) {
      const kAll = slope(judged.map((r) => r.cycle), judged.map((r) => r[n].rss));
      const k = tail.length >= 2 ? slope(tail.map((r) => r.cycle), tail.map((r) => r[n].rss)) : kAll;
      const dF = last[n].fds - first[n].fds;
      const dT = last[n].threads - first[n].threads;
      log(`  ${n.padEnd(8)} RSS ${last[n].rss - first[n].rss >= 0 ? '+' : ''}${last[n].rss - first[n].rss} KB, ` +
        `slope ${kAll.toFixed(2)} KB/cycle (second half ${k.toFixed(2)}), ` +
        `fds ${dF >= 0 ? '+' : ''}${dF}, threads ${dT >= 0 ? '+' : ''}${dT}`);
      if (o.maxKbPerCycle > 0 && k > o.maxKbPerCycle) {
        problems.push(`${n}: RSS grows ${k.toFixed(2)} KB/cycle over the second half (bound ${o.maxKbPerCycle})`);
      }
      if (dF > o.maxFdGrowth) problems.push(`${n}: fds grew by ${dF} (bound ${o.maxFdGrowth})`);
      if (dT > o.maxThreadGrowth) problems.push(`${n}: threads grew by ${dT} (bound ${o.maxThreadGrowth})`);
    }
    if (o.maxKbPerCycle <= 0) log('RSS not judged (--max-kb-per-cycle 0)');
    log(`${o.cycles} cycles in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
      `src reconnects ${src.connected() - 1}, sink reconnects ${sink.connected() - 1}`);
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`FAIL: ${e && e.stack || e}`);
    for (const t of [src, sink]) if (t) console.error(`---- ${t.name} output (tail) ----\n${t.tail.slice(-6000)}`);
  } finally {
    if (src) await src.stop('quit');
    if (sink) await sink.stop();
    for (const t of [src, sink]) {
      if (t && t.exit && t.exit.code !== 0) {
        console.error(`${t.name} exit ${JSON.stringify(t.exit)}\n${t.report !== null ? t.report : t.tail.slice(-4000)}`);
        ok = false;
      }
    }
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) {
        ok = false;
        console.error(`metered-server exit ${JSON.stringify(exit)}\n${srv.output.slice(-3000)}`);
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS soak' : 'FAIL soak');
  return ok ? 0 : 1;
}

main().then((rc) => process.exit(rc), (e) => {
  console.error(`FAIL: ${e && e.stack || e}`);
  process.exit(1);
});
