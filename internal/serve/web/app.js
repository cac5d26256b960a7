/*
 * rtcctl call page: a browser client of the course's one-to-one room protocol, behaving
 * like the course's browser client (see shared/protocol.md), served by `rtcctl serve`.
 *
 * Stable element ids (automated tests rely on them):
 *   roomId (input), joinBtn, leaveBtn, candFormat (select: "android" | "web"),
 *   relayOnly (checkbox), localVideo, remoteVideo, uid, remoteUid, notice,
 *   wsState, roomState, signalingState, iceState, connState, log
 *
 * URL parameters:
 *   room=ID          room to fill in (default "100"); always sent as a JSON string
 *   autojoin=1       join on load
 *   format=web       candidate format to send (default android); both are accepted
 *   relay=1          relay-only ICE (iceTransportPolicy "relay")
 *   uid=ID           own uid (default: random)
 *   ws=URL           another signaling server (default: this server's /ws)
 *   keepalive=0|1    {"cmd":"ping"} every 5 s (default on for this server, off with ws=)
 *
 * window.rtcctl (for headless tests):
 *   state            {ws, room, uid, remoteUid, role, joined, signaling, ice, connection,
 *                     format, relay, notice, lastError, full, calls, connectedCalls}
 *   log              array of {t (ms since load), ev, detail}
 *   pc, localStream, ws
 *   join(room) -> Promise, leave(), setFormat("android"|"web"), setRelay(bool),
 *   stats() -> Promise<{bytesReceived, bytesSent, framesDecoded, audioBytesReceived,
 *                       videoBytesReceived, localCandidateType, remoteCandidateType,
 *                       protocol} | null>
 */
(function () {
  'use strict';

  var KEEPALIVE_MS = 5000;
  var LOG_MAX = 2000;

  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var customWS = params.get('ws');
  var wsURL = customWS || ((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  // The original server ignores unknown commands, but only our server answers the ping,
  // so the keepalive is on by default only when talking to the server that served us.
  var keepalive = params.has('keepalive') ? params.get('keepalive') === '1' : !customWS;

  var state = {
    ws: 'closed', room: null, uid: params.get('uid') || Math.random().toString(36).slice(2, 10),
    remoteUid: null, role: null, joined: false,
    signaling: '-', ice: '-', connection: '-',
    format: params.get('format') === 'web' ? 'web' : 'android',
    relay: params.get('relay') === '1' || params.get('relay') === 'true',
    notice: '', lastError: null, full: false, calls: 0, connectedCalls: 0
  };
  var api = { state: state, log: [], pc: null, localStream: null, ws: null };
  window.rtcctl = api;

  var t0 = performance.now();
  var pendingCandidates = [];
  var chain = Promise.resolve();
  var keepaliveTimer = null;

  function log(ev, detail) {
    var e = { t: Math.round(performance.now() - t0), ev: ev, detail: detail === undefined ? '' : String(detail) };
    api.log.push(e);
    if (api.log.length > LOG_MAX) api.log.shift();
    var el = $('log');
    if (el) {
      el.textContent += (e.t / 1000).toFixed(3) + '  ' + ev + (e.detail ? '  ' + e.detail : '') + '\n';
      el.scrollTop = el.scrollHeight;
    }
  }

  function notice(text) {
    state.notice = text;
    render();
  }

  function render() {
    $('wsState').textContent = state.ws;
    $('roomState').textContent = state.joined ? state.room + ' (' + (state.role || 'waiting') + ')' : '-';
    $('signalingState').textContent = state.signaling;
    $('iceState').textContent = state.ice;
    $('connState').textContent = state.connection;
    $('uid').textContent = state.uid;
    $('remoteUid').textContent = state.remoteUid || '-';
    $('notice').textContent = state.notice;
    $('joinBtn').disabled = state.joined;
    $('leaveBtn').disabled = !state.joined;
    $('candFormat').value = state.format;
    $('relayOnly').checked = state.relay;
  }

  // ---- media ----

  function getLocalMedia() {
    if (api.localStream) return Promise.resolve(api.localStream);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      log('media-error', 'getUserMedia unavailable (needs https or localhost)');
      return Promise.resolve(null);
    }
    var tries = [{ audio: true, video: true }, { video: true }, { audio: true }];
    var attempt = function (i) {
      if (i >= tries.length) {
        log('media-error', 'no camera or microphone; joining receive-only');
        return null;
      }
      return navigator.mediaDevices.getUserMedia(tries[i]).then(function (stream) {
        api.localStream = stream;
        $('localVideo').srcObject = stream;
        log('media', stream.getTracks().map(function (t) { return t.kind; }).join('+'));
        return stream;
      }, function (err) {
        log('media-error', err.name + ': ' + err.message);
        return attempt(i + 1);
      });
    };
    return attempt(0);
  }

  function stopLocalMedia() {
    if (!api.localStream) return;
    api.localStream.getTracks().forEach(function (t) { t.stop(); });
    api.localStream = null;
    $('localVideo').srcObject = null;
  }

  // ---- signaling ----

  function openSocket() {
    if (api.ws && api.ws.readyState === WebSocket.OPEN) return Promise.resolve(api.ws);
    return new Promise(function (resolve, reject) {
      var ws = new WebSocket(wsURL);
      api.ws = ws;
      state.ws = 'connecting';
      render();
      ws.onopen = function () {
        state.ws = 'open';
        log('ws-open', wsURL);
        render();
        if (keepalive) {
          clearInterval(keepaliveTimer);
          keepaliveTimer = setInterval(function () {
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ cmd: 'ping' }));
          }, KEEPALIVE_MS);
        }
        resolve(ws);
      };
      ws.onerror = function () {
        log('ws-error', wsURL);
        reject(new Error('websocket error: ' + wsURL));
      };
      ws.onclose = function (ev) {
        if (api.ws !== ws) return;
        clearInterval(keepaliveTimer);
        state.ws = 'closed';
        log('ws-close', ev.code + (ev.reason ? ' ' + ev.reason : ''));
        if (state.joined) notice('signaling connection closed (' + ev.code + ')');
        state.joined = false;
        hangup();
        render();
      };
      ws.onmessage = function (ev) {
        if (typeof ev.data !== 'string') return;
        var m;
        try { m = JSON.parse(ev.data); } catch (e) { log('bad-frame', ev.data.slice(0, 80)); return; }
        if (!m || typeof m !== 'object') return;
        chain = chain.then(function () { return handle(m); }).catch(function (err) {
          log('error', err && err.message ? err.message : err);
        });
      };
    });
  }

  function send(obj) {
    if (!api.ws || api.ws.readyState !== WebSocket.OPEN) {
      log('send-dropped', obj.cmd);
      return;
    }
    api.ws.send(JSON.stringify(obj));
    if (obj.cmd !== 'candidate' && obj.cmd !== 'ping') log('send', obj.cmd);
  }

  function relay(cmd, msg) {
    send({ cmd: cmd, roomId: state.room, uid: state.uid, remoteUid: state.remoteUid, msg: msg });
  }

  function handle(m) {
    if (m.cmd !== 'candidate' && m.cmd !== 'ping' && m.cmd !== 'pong') log('recv', m.cmd + (m.remoteUid !== undefined ? ' ' + m.remoteUid : ''));
    switch (m.cmd) {
      case 'new-peer':
        state.remoteUid = String(m.remoteUid);
        state.role = 'caller';
        notice('peer ' + state.remoteUid + ' joined; calling');
        return call();
      case 'resp-join':
        state.remoteUid = String(m.remoteUid);
        state.role = 'callee';
        notice('peer ' + state.remoteUid + ' is in the room; waiting for its offer');
        return;
      case 'offer':
        return answer(m);
      case 'answer':
        if (!api.pc) return;
        return api.pc.setRemoteDescription(JSON.parse(m.msg)).then(flushCandidates);
      case 'candidate':
        return addCandidate(m.msg);
      case 'peer-leave':
        log('peer-left', m.remoteUid);
        hangup();
        state.remoteUid = null;
        state.role = null;
        notice('peer left; still in room ' + state.room + ', waiting for the next peer');
        return;
      case 'full':
        // Refused: release the camera (its light stays on otherwise) and say what to do.
        state.full = true;
        state.joined = false;
        stopLocalMedia();
        notice('room ' + m.roomId + ' is full (two people are already in a call there): pick another room id and press Join');
        return;
      case 'error':
        state.lastError = { code: m.code, reason: m.reason };
        notice('server error ' + m.code + ': ' + m.reason);
        return;
      case 'replaced':
        state.joined = false;
        hangup();
        notice('another connection joined with uid ' + m.uid);
        return;
      case 'ping':
      case 'pong':
        return;
      default:
        log('unknown-cmd', m.cmd);
    }
  }

  // ---- peer connection ----

  function fetchConfig() {
    return fetch('/config' + (state.relay ? '?relay=1' : ''), { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('/config: HTTP ' + r.status); return r.json(); })
      .catch(function (err) {
        log('config-error', err.message);
        return { iceServers: [] };
      });
  }

  function createPC() {
    hangup();
    return fetchConfig().then(function (cfg) {
      var pc = new RTCPeerConnection({
        iceServers: cfg.iceServers || [],
        iceTransportPolicy: state.relay ? 'relay' : 'all',
        bundlePolicy: 'max-bundle',
        rtcpMuxPolicy: 'require'
      });
      api.pc = pc;
      state.calls++;
      pendingCandidates = [];
      pc.onicecandidate = function (e) {
        if (!e.candidate || !e.candidate.candidate) return;
        relay('candidate', encodeCandidate(e.candidate));
      };
      pc.ontrack = function (e) {
        var v = $('remoteVideo');
        if (e.streams && e.streams[0]) {
          v.srcObject = e.streams[0];
        } else {
          if (!(v.srcObject instanceof MediaStream)) v.srcObject = new MediaStream();
          v.srcObject.addTrack(e.track);
        }
        log('track', e.track.kind);
      };
      pc.onsignalingstatechange = function () { if (api.pc === pc) { state.signaling = pc.signalingState; render(); } };
      pc.oniceconnectionstatechange = function () {
        if (api.pc !== pc) return;
        state.ice = pc.iceConnectionState;
        log('ice', state.ice);
        render();
      };
      pc.onconnectionstatechange = function () {
        if (api.pc !== pc) return;
        state.connection = pc.connectionState;
        log('connection', state.connection);
        if (state.connection === 'connected') { state.connectedCalls++; notice('connected to ' + state.remoteUid); }
        render();
      };
      if (api.localStream) {
        api.localStream.getTracks().forEach(function (t) { pc.addTrack(t, api.localStream); });
      } else {
        pc.addTransceiver('audio', { direction: 'recvonly' });
        pc.addTransceiver('video', { direction: 'recvonly' });
      }
      state.signaling = pc.signalingState;
      render();
      return pc;
    });
  }

  function call() {
    return createPC().then(function (pc) {
      return pc.createOffer().then(function (offer) {
        return pc.setLocalDescription(offer);
      }).then(function () {
        var d = pc.localDescription;
        relay('offer', JSON.stringify({ type: d.type, sdp: d.sdp }));
      });
    });
  }

  function answer(m) {
    state.remoteUid = String(m.uid);
    if (!state.role) state.role = 'callee';
    var desc = JSON.parse(m.msg);
    return createPC().then(function (pc) {
      return pc.setRemoteDescription(desc).then(flushCandidates).then(function () {
        return pc.createAnswer();
      }).then(function (ans) {
        return pc.setLocalDescription(ans);
      }).then(function () {
        var d = pc.localDescription;
        relay('answer', JSON.stringify({ type: d.type, sdp: d.sdp }));
      });
    });
  }

  // encodeCandidate writes the selected format: android {label,id,candidate} (default; every
  // client of the Android lineage parses it) or web (RTCIceCandidate.toJSON()).
  function encodeCandidate(c) {
    if (state.format === 'web') return JSON.stringify(c.toJSON ? c.toJSON() : c);
    return JSON.stringify({ label: c.sdpMLineIndex, id: c.sdpMid, candidate: c.candidate });
  }

  // decodeCandidate accepts both formats.
  function decodeCandidate(msg) {
    var c = JSON.parse(msg);
    if (c && ('label' in c || 'id' in c) && !('sdpMid' in c) && !('sdpMLineIndex' in c)) {
      return { candidate: c.candidate, sdpMLineIndex: c.label, sdpMid: c.id };
    }
    return c;
  }

  function addCandidate(msg) {
    var init;
    try { init = decodeCandidate(msg); } catch (e) { log('bad-candidate', String(msg).slice(0, 80)); return; }
    if (!init || !init.candidate) return;
    if (!api.pc || !api.pc.remoteDescription) {
      pendingCandidates.push(init);
      return;
    }
    return api.pc.addIceCandidate(init).catch(function (err) { log('candidate-error', err.message); });
  }

  function flushCandidates() {
    var list = pendingCandidates;
    pendingCandidates = [];
    return Promise.all(list.map(function (c) {
      return api.pc.addIceCandidate(c).catch(function (err) { log('candidate-error', err.message); });
    }));
  }

  function hangup() {
    if (api.pc) {
      api.pc.close();
      api.pc = null;
      log('hangup');
    }
    pendingCandidates = [];
    var v = $('remoteVideo');
    if (v) v.srcObject = null;
    state.signaling = state.ice = state.connection = '-';
  }

  // ---- public actions ----

  api.join = function (room) {
    if (room === undefined || room === null) room = $('roomId').value;
    room = String(room).trim();
    if (!room) { notice('enter a room id'); return Promise.resolve(); }
    $('roomId').value = room;
    state.full = false;
    state.lastError = null;
    return getLocalMedia().then(openSocket).then(function () {
      state.room = room;
      state.role = null;
      state.remoteUid = null;
      state.joined = true;
      send({ cmd: 'join', roomId: room, uid: state.uid });
      notice('joined room ' + room + '; waiting for a peer: open ' + inviteURL(room) + ' in another tab' +
        (api.localStream ? '' : ' (no camera or microphone here: receive-only)'));
    }).catch(function (err) {
      notice('could not join: ' + err.message);
    });
  };

  // inviteURL is this page's address with the room filled in and joining on load.
  function inviteURL(room) {
    var u = new URL(location.href);
    u.search = '';
    u.hash = '';
    u.searchParams.set('room', room);
    u.searchParams.set('autojoin', '1');
    if (state.relay) u.searchParams.set('relay', '1');
    if (customWS) u.searchParams.set('ws', customWS);
    return u.toString();
  }

  api.leave = function () {
    if (state.joined) send({ cmd: 'leave', roomId: state.room, uid: state.uid });
    state.joined = false;
    hangup();
    state.remoteUid = null;
    state.role = null;
    stopLocalMedia();
    var ws = api.ws;
    api.ws = null;
    clearInterval(keepaliveTimer);
    if (ws) ws.close(1000, 'leave');
    state.ws = 'closed';
    notice('left room ' + (state.room || ''));
  };

  api.setFormat = function (f) {
    state.format = f === 'web' ? 'web' : 'android';
    log('format', state.format);
    render();
  };

  api.setRelay = function (on) {
    state.relay = !!on;
    log('relay-only', state.relay);
    render();
  };

  api.stats = function () {
    var pc = api.pc;
    if (!pc) return Promise.resolve(null);
    return pc.getStats().then(function (report) {
      var out = { bytesReceived: 0, bytesSent: 0, framesDecoded: 0, audioBytesReceived: 0, videoBytesReceived: 0,
        localCandidateType: null, remoteCandidateType: null, protocol: null };
      var pair = null;
      report.forEach(function (s) {
        if (s.type === 'inbound-rtp') {
          out.bytesReceived += s.bytesReceived || 0;
          if (s.kind === 'video') { out.videoBytesReceived += s.bytesReceived || 0; out.framesDecoded += s.framesDecoded || 0; }
          if (s.kind === 'audio') out.audioBytesReceived += s.bytesReceived || 0;
        } else if (s.type === 'outbound-rtp') {
          out.bytesSent += s.bytesSent || 0;
        } else if (s.type === 'transport' && s.selectedCandidatePairId) {
          pair = report.get(s.selectedCandidatePairId);
        }
      });
      if (pair) {
        var l = report.get(pair.localCandidateId), r = report.get(pair.remoteCandidateId);
        if (l) { out.localCandidateType = l.candidateType; out.protocol = l.protocol; }
        if (r) out.remoteCandidateType = r.candidateType;
      }
      return out;
    });
  };

  // ---- wiring ----

  $('joinBtn').addEventListener('click', function () { api.join(); });
  $('leaveBtn').addEventListener('click', function () { api.leave(); });
  $('candFormat').addEventListener('change', function (e) { api.setFormat(e.target.value); });
  $('relayOnly').addEventListener('change', function (e) { api.setRelay(e.target.checked); });
  if (params.get('room')) $('roomId').value = params.get('room');
  render();
  log('ready', 'uid ' + state.uid + ', signaling ' + wsURL + ', format ' + state.format + (state.relay ? ', relay only' : ''));
  if (params.get('autojoin') === '1') api.join();
})();
