// gst-metered — LGPL-2.1-or-later
//
// No credential in any log line. Real scenarios at full verbosity:
// metered-server (-v, G_MESSAGES_DEBUG=all) with a keys file and its own
// admin token; meteredsink on a publishable key; a second meteredsink on a
// static JWT whose welcome metadata carries TURN credentials; meteredsrc on
// a token-url with userinfo (fetched again after an admin drop) and a
// turn-servers property with a password; metered-cli on a key and on a
// JWT. Every pipeline runs with GST_DEBUG=*:9 and G_MESSAGES_DEBUG=all.
// Media must flow (so the credentials were really used), then every line
// of every log is searched for each secret: the keys, the JWT secret, the
// admin token, whole JWTs and their signatures, the TURN passwords and the
// token-url password (also URL-encoded). Any hit fails the test, naming
// the log and the line number (never the line).
//
// Also: the admin API refuses every route without the bearer token or
// with a wrong one (the SDK suite checks two routes; here, all of them).
//
// argv: PATH/TO/metered-sink-tool PATH/TO/meteredsrc-tool PATH/TO/metered-cli
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const crypto = require('crypto');
const { spawn, execFileSync } = require('child_process');
const { ts, log, live, requireEnv, checkNamespace } = require('../js/lib/interop.cjs');
const { waitFor } = require('../src/src-lib.cjs');

const rand = () => crypto.randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
const secrets = {
  publishableKey: `pk_sec_${rand()}`,
  jwtSecret: `jwt-secret-${rand()}`,
  adminToken: `admin-${rand()}`,
  turnPasswordInJwt: `turnpw-jwt-${rand()}`,
  turnPasswordProperty: `turnpw-prop-${rand()}`,
  tokenUrlPassword: `tokpw-${rand()}`,
};
const KID = 'kid_sec_1';

// A process whose stdout and stderr go to a log file.
function run(name, exe, args, env, dir) {
  const file = path.join(dir, `${name}.log`);
  const fd = fs.openSync(file, 'w');
  const child = spawn(exe, args, { stdio: ['pipe', fd, fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  const p = { name, child, file, exit: null };
  p.exited = new Promise((r) => child.on('close', (code, signal) => { p.exit = { code, signal }; r(p.exit); }));
  p.stop = async (signal = 'SIGTERM') => {
    if (p.exit) return p.exit;
    child.kill(signal);
    const k = setTimeout(() => child.kill('SIGKILL'), 15000);
    await p.exited;
    clearTimeout(k);
    return p.exit;
  };
  return p;
}

// The last JSON status line of a tool's log (tools print one per interval).
function lastStatus(file) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('{"event":"status"'));
  try { return lines.length ? JSON.parse(lines[lines.length - 1]) : null; } catch (_) { return null; }
}

function adminStatus(port, method, p, token) {
  return new Promise((resolve, reject) => {
    const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` };
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

// Every needle, also URL-encoded and base64url'd (a log may encode it).
function needles(jwts) {
  const out = [];
  for (const [name, v] of Object.entries(secrets)) {
    out.push([name, v]);
    if (encodeURIComponent(v) !== v) out.push([`${name} (URL-encoded)`, encodeURIComponent(v)]);
    out.push([`${name} (base64url)`, Buffer.from(v).toString('base64url').slice(0, -2)]);
  }
  for (const [name, t] of Object.entries(jwts)) {
    out.push([`JWT ${name}`, t]);
    out.push([`JWT ${name} signature`, t.split('.')[2]]);
  }
  return out;
}

// Lines other projects write with a credential we hand them, which no
// code of ours can keep out of their logs: GStreamer's parser echoing a
// gst_parse_launch() description (the test tool's command line), and
// webrtcbin / libnice printing the TURN URIs given to add-turn-server.
// They are counted and printed, not failed; every other line is ours.
const THIRD_PARTY = [
  / GST_PIPELINE (gstparse\.c:\d+:gst_parse_launch_full|parse\.l:\d+:priv_gst_parse_yylex): /,
  / default types\.h:\d+:gst_parse_unescape: unescaping /,
  / webrtcbin gstwebrtcbin\.c:\d+:gst_webrtc_bin_add_turn_server:/,
  / webrtcnice nice\.c:\d+:_validate_turn_server:/,
  /: libnice-DEBUG: [\d:.]+: Agent 0x[0-9a-f]+: added relay server /,
];

// Streams a (possibly large) log file line by line; returns hits
// [{needle, file, line}], third-party hits by pattern, and the number of
// lines read.
async function scan(file, list) {
  const hits = [];
  const thirdParty = {};
  let lines = 0;
  let rest = '';
  const check = (l) => {
    lines++;
    for (const [name, v] of list) {
      if (!l.includes(v)) continue;
      const tp = THIRD_PARTY.find((re) => re.test(l));
      if (tp) thirdParty[tp.source] = (thirdParty[tp.source] || 0) + 1;
      else hits.push({ needle: name, file: path.basename(file), line: lines });
    }
  };
  const stream = fs.createReadStream(file, { encoding: 'latin1', highWaterMark: 1 << 20 });
  for await (const chunk of stream) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop();
    for (const l of parts) check(l);
  }
  if (rest) check(rest);
  return { hits, thirdParty, lines };
}

async function main() {
  // What is logged does not depend on the sanitizers, and GST_DEBUG=*:9
  // under AddressSanitizer (slow unwinding on every allocation) takes
  // minutes to get media through: the plain build runs this test.
  if (process.env.METERED_SANITIZER_PRELOAD) {
    log('SKIP: sanitized build (the plain build runs the log search)');
    return 77;
  }
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const [sinkExe, srcExe, cliExe] = process.argv.slice(2);
  if (!sinkExe || !srcExe || !cliExe) throw new Error('usage: security-logs.cjs SINK-TOOL SRC-TOOL METERED-CLI');
  checkNamespace();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-security-'));
  const procs = [];
  let srv = null;
  let tokenServer = null;
  let ok = false;
  const problems = [];
  try {
    const keysFile = path.join(dir, 'keys.json');
    fs.writeFileSync(keysFile, JSON.stringify({ apps: [{ id: 'sec',
      publishableKeys: [{ key: secrets.publishableKey, channels: ['**'] }],
      secrets: [{ kid: KID, secret: secrets.jwtSecret }] }] }));
    const iceMeta = JSON.stringify({ iceServers: [{ urls: ['turn:10.99.0.1:3478?transport=udp', 'stun:10.99.0.1:3478'],
      username: 'turnuser', credential: secrets.turnPasswordInJwt }] });
    const mint = (sub) => execFileSync(exe, ['--keys', keysFile, '--mint-token', '--kid', KID, '--sub', sub,
      '--metadata', iceMeta, '--ttl', '900']).toString().trim();
    const jwts = { sink: mint('jwt-sink'), src: mint('a-src'), cli: mint('jwt-cli') };
    const verbose = { G_MESSAGES_DEBUG: 'all', GST_DEBUG_NO_COLOR: '1' };
    const gstVerbose = (name) => ({ ...verbose, GST_DEBUG: '*:9', GST_DEBUG_FILE: path.join(dir, `${name}.gst.log`) });

    srv = run('metered-server', exe, ['--port', '0', '--port-file', path.join(dir, 'port'), '--keys', keysFile,
      '--admin-token', secrets.adminToken, '--ip-connect-limit', '0', '-v'], verbose, dir);
    live.server = { child: srv.child, get exit() { return srv.exit; } };
    const port = await waitFor(() => {
      const t = fs.existsSync(path.join(dir, 'port')) ? fs.readFileSync(path.join(dir, 'port'), 'utf8').trim() : '';
      return /^\d+$/.test(t) && +t > 0 ? +t : 0;
    }, 15000, 'metered-server --port-file');
    const url = `ws://127.0.0.1:${port}`;

    // token-url with userinfo: answers a fresh JWT to the right password only.
    let tokenFetches = 0;
    tokenServer = http.createServer((req, res) => {
      const want = 'Basic ' + Buffer.from(`tokuser:${secrets.tokenUrlPassword}`).toString('base64');
      if (req.headers.authorization !== want) {
        // The challenge libsoup answers with the URL's userinfo.
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="token"' });
        res.end();
        return;
      }
      tokenFetches++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: jwts.src }));
    });
    await new Promise((r) => tokenServer.listen(0, '127.0.0.1', r));
    const tokenUrl = `http://tokuser:${secrets.tokenUrlPassword}@127.0.0.1:${tokenServer.address().port}/token`;
    secrets.tokenBasicAuth = Buffer.from(`tokuser:${secrets.tokenUrlPassword}`).toString('base64');

    const channel = `security-${process.pid}`;
    const src = run('meteredsrc', srcExe, ['--', `url=${url}`, `token-url=${tokenUrl}`, `channel=${channel}`,
      'output=decoded', `turn-servers=turn://turnuser:${secrets.turnPasswordProperty}@10.99.0.1:3478`,
      'reconnect-initial-delay=250'], gstVerbose('meteredsrc'), dir);
    procs.push(src);
    await new Promise((r) => setTimeout(r, 1500));
    const small = ['--width', '64', '--height', '48', '--fps', '10', '--duration', '120'];
    const sinkKey = run('meteredsink-key', sinkExe, ['--url', url, '--key', secrets.publishableKey,
      '--channel', channel, '--metadata', 'meta,role=key', ...small], gstVerbose('meteredsink-key'), dir);
    const sinkJwt = run('meteredsink-jwt', sinkExe, ['--url', url, '--token', jwts.sink,
      '--channel', channel, '--metadata', 'meta,role=jwt', ...small], gstVerbose('meteredsink-jwt'), dir);
    procs.push(sinkKey, sinkJwt);
    const cliKey = run('metered-cli-key', cliExe, ['--url', url, '--key', secrets.publishableKey,
      'subscribe', channel], verbose, dir);
    const cliJwt = run('metered-cli-jwt', cliExe, ['--url', url, '--token', jwts.cli,
      'subscribe', channel], verbose, dir);
    procs.push(cliKey, cliJwt);

    // Media from both senders on meteredsrc: every credential was used.
    const pads = () => {
      const s = lastStatus(src.file);
      return s ? Object.entries(s.pads).filter(([, p]) => p.buffers >= 10).map(([n]) => n) : [];
    };
    await waitFor(() => pads().some((n) => /jwt-sink/.test(n)) && pads().some((n) => /key/.test(n)),
      60000, 'video from both meteredsinks on meteredsrc', () => JSON.stringify(pads()));
    log(`meteredsrc pads carrying media: ${pads().join(', ')}`);

    // The admin API with its bearer (a drop makes meteredsrc fetch its
    // token again), and without or with a wrong one on every route.
    const fetches = tokenFetches;
    const routes = [['GET', '/v1/peers'], ['DELETE', '/v1/peers/nobody'], ['POST', '/v1/peers/nobody/drop?code=4000'],
      ['POST', '/v1/apps/sec/suspend'], ['POST', '/v1/apps/sec/unsuspend'], ['POST', '/v1/keys/pk_none/revoke']];
    for (const [method, p] of routes) {
      for (const token of [undefined, 'wrong', '', secrets.adminToken.slice(0, -1)]) {
        const st = await adminStatus(port, method, p, token);
        if (st !== 401) problems.push(`admin ${method} ${p} with bearer ${token === undefined ? '(none)' : JSON.stringify(token === '' ? '' : 'wrong')}: HTTP ${st}, expected 401`);
      }
    }
    const listed = await adminStatus(port, 'GET', '/v1/peers', secrets.adminToken);
    if (listed !== 200) problems.push(`admin GET /v1/peers with the bearer: HTTP ${listed}`);
    const dropped = await adminStatus(port, 'POST', '/v1/peers/a-src/drop', secrets.adminToken);
    if (dropped !== 204) problems.push(`admin drop a-src: HTTP ${dropped}`);
    await waitFor(() => tokenFetches > fetches, 30000, 'meteredsrc to fetch its token again after the drop');
    await new Promise((r) => setTimeout(r, 2000));

    for (const p of procs) await p.stop();
    const srvExit = await srv.stop();
    if (srvExit.code !== 0) problems.push(`metered-server exit ${JSON.stringify(srvExit)}`);

    // The search.
    const list = needles(jwts);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => path.join(dir, f));
    let total = 0;
    for (const f of files) {
      const { hits, thirdParty, lines } = await scan(f, list);
      total += lines;
      log(`${path.basename(f)}: ${lines} lines, ${(fs.statSync(f).size / 1e6).toFixed(1)} MB, ${hits.length} credential hits` +
        (Object.keys(thirdParty).length ? `; third-party lines with a credential: ${JSON.stringify(thirdParty)}` : ''));
      for (const h of hits.slice(0, 20)) problems.push(`${h.needle} appears in ${h.file} line ${h.line}`);
    }
    log(`searched ${total} log lines of ${files.length} logs for ${list.length} credential forms`);
    if (total < 10000) problems.push(`only ${total} log lines: GST_DEBUG=*:9 did not take effect`);
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    for (const p of procs) await p.stop('SIGKILL');
    if (srv && !srv.exit) await srv.stop();
    if (tokenServer) tokenServer.close();
    if (ok || !process.env.METERED_KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true });
    else console.error(`logs kept in ${dir}`);
  }
  log(ok ? 'PASS no credential in any log line' : 'FAIL security logs');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (170 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 170000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
