// gst-metered — LGPL-2.1-or-later
//
// Prints real Chromium SDP and candidates as JSON {offer, answer, restart,
// cands}: two RTCPeerConnections in Debian's chromium (fake camera and mic,
// a data channel), page served from 127.0.0.1. Input of capture-seeds.mjs
// and the source of tests/fuzz/corpus/fuzz-sdp/chromium-*.sdp.
//
//   NODE_PATH=build/js/node_modules node tests/fuzz/capture-chromium-sdp.cjs > chromium.json
'use strict';

const { chromium } = require('playwright-core');
(async () => {
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox','--use-fake-device-for-media-stream','--use-fake-ui-for-media-stream','--disable-gpu'] });
  const p = await b.newPage();
  const srv = require('http').createServer((q,res)=>res.end('<html></html>')); await new Promise(r=>srv.listen(0,'127.0.0.1',r)); await p.goto('http://localhost:'+srv.address().port+'/');
  const r = await p.evaluate(async () => {
    const s = await navigator.mediaDevices.getUserMedia({audio:true, video:true});
    const a = new RTCPeerConnection(), c = new RTCPeerConnection();
    const cands = [];
    a.onicecandidate = (e) => { if (e.candidate) cands.push(e.candidate.toJSON()); };
    for (const t of s.getTracks()) a.addTrack(t, s);
    a.createDataChannel('x');
    const o = await a.createOffer(); await a.setLocalDescription(o);
    await new Promise(r => { a.onicegatheringstatechange = () => a.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
    await c.setRemoteDescription(a.localDescription);
    const an = await c.createAnswer(); await c.setLocalDescription(an);
    const r1 = await a.createOffer({iceRestart:true});
    return { offer: a.localDescription.sdp, answer: c.localDescription.sdp, restart: r1.sdp, cands };
  });
  console.log(JSON.stringify(r));
  await b.close(); srv.close();
})();
