// The lesson player: HLS (hls.js where Media Source Extensions exist, the browser's own HLS
// otherwise; the page is the poster and the controls: hls.js is fetched only after the page has
// loaded and run, like any stream request, only on the first press of play), quality and speed
// choice, audio-only mode, resume, and the heartbeats from which the server — not this script —
// decides how much watching to credit.
(function () {
  "use strict";
  var root = document.getElementById("player");
  if (!root) { return; }
  var video = document.getElementById("video");
  var d = root.dataset;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var statusLine = document.getElementById("player-status");
  var qualitySelect = document.getElementById("quality");
  var speedSelect = document.getElementById("speed");
  var audioToggle = document.getElementById("audio-toggle");
  var idleDialog = document.getElementById("idle-dialog");
  var HEARTBEAT_MS = Math.max(2.5, parseFloat(d.heartbeatSeconds) || 10) * 1000;
  var elsewhereBox = document.getElementById("elsewhere");

  var tab = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  tab = tab.slice(0, 40);
  var seq = 0;
  var hls = null;
  var audioMode = d.startAudio === "1" || !d.master;
  var furthest = parseFloat(d.furthest) || 0;
  var localReach = furthest;
  var seekLocked = d.seekLocked === "1";
  var started = false;
  var stopped = false;
  var inFlight = false;
  var lastSent = null;
  var away = false;  // another page holds the member's study clock
  var wantTakeover = false;  // the member asked to study here: the next beat takes the clock

  function say(text) { statusLine.textContent = text; }

  function saveData() {
    var c = navigator.connection;
    return !!(c && c.saveData);
  }

  // Always start on the lowest rung: its first segments are small (a quick first frame on any
  // link), and the automatic choice climbs after a segment or two. hls.js's own automatic start
  // (-1) would first download a segment only to measure the speed, which is what a weak link
  // can least afford; navigator.connection's estimate is too coarse to skip that safely.
  var START_LEVEL = 0;

  function seekTo(at) {
    if (at > 0.5 && isFinite(at)) { video.currentTime = at; }
  }

  var attached = false;  // a source is set (the first play press loads it)

  function wantsHlsJs() {
    return !!(window.MediaSource || window.ManagedMediaSource);
  }

  // hls.js (the light build) is run on the first press of play only; CSP allows this
  // same-origin script. Its bytes are fetched once the page has loaded (poster and controls
  // first), so the press does not wait for them; its hashed name is cached for a year, so this
  // costs one download per member, and none when the browser asks to save data.
  function prefetchPlayerScript() {
    if (window.Hls || !wantsHlsJs() || !d.hlsScript || saveData() || !window.fetch) { return; }
    fetch(d.hlsScript, { credentials: "same-origin" })
      .then(function (r) { return r.arrayBuffer(); })
      .catch(function () { /* the press of play fetches it again */ });
  }
  if (document.readyState === "complete") { prefetchPlayerScript(); }
  else { window.addEventListener("load", prefetchPlayerScript); }

  // A weak link pays a round trip (400 ms in a village) per request, and hls.js fetches the
  // master playlist, the rung's playlist, the init segment and the first segment one after
  // another. On the first press of play the same files are fetched here, in parallel with
  // hls.js itself, and handed to it from memory (warmLoader) rather than through the HTTP
  // cache, which media responses can miss (they vary on the session cookie).
  var warmed = {};  // absolute URL → promise of {data, start, first, end}

  function warm(url, text) {
    if (!warmed[url]) {
      var t = { start: performance.now() };
      warmed[url] = fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        t.first = performance.now();
        return text ? r.text() : r.arrayBuffer();
      }).then(function (data) { t.data = data; t.end = performance.now(); return t; });
      warmed[url].catch(function () { delete warmed[url]; });
    }
    return warmed[url];
  }

  // The master playlist's lowest rung, then that playlist's init segment and the segment that
  // holds `at` (a resumed lesson starts there).
  function warmStream(url, at) {
    warm(url, true).then(function (p) {
      var lines = p.data.split(/\r?\n/);
      var i, lowest = null, bandwidth, position = 0, duration = null;
      if (p.data.indexOf("#EXT-X-STREAM-INF") >= 0) {
        for (i = 0; i < lines.length; i++) {
          if (lines[i].indexOf("#EXT-X-STREAM-INF:") !== 0) { continue; }
          bandwidth = parseInt((lines[i].match(/[:,]BANDWIDTH=(\d+)/) || [])[1], 10) || Infinity;
          var uri = (lines[i + 1] || "").trim();
          if (uri && uri[0] !== "#" && (!lowest || bandwidth < lowest.bandwidth)) { lowest = { bandwidth: bandwidth, uri: uri }; }
        }
        if (lowest) { warmStream(new URL(lowest.uri, url).href, at); }
        return;
      }
      var map = p.data.match(/#EXT-X-MAP:URI="([^"]+)"/);
      if (map) { warm(new URL(map[1], url).href, false); }
      for (i = 0; i < lines.length; i++) {
        var line = lines[i].trim();
        if (line.indexOf("#EXTINF:") === 0) { duration = parseFloat(line.slice(8)) || 0; continue; }
        if (!line || line[0] === "#" || duration === null) { continue; }
        if (at < position + duration) { warm(new URL(line, url).href, false); return; }
        position += duration;
        duration = null;
      }
    }).catch(function () { /* hls.js fetches what it needs itself */ });
  }

  // An hls.js loader that answers from `warmed` when it can (each file once), else the default.
  function warmLoader(Base) {
    function WarmLoader(config) {
      this.inner = new Base(config);
      this.stats = this.inner.stats;  // hls.js reads loader.stats right after construction
      this.context = null;
      this.callbacks = null;
      this.done = false;
    }
    WarmLoader.prototype.load = function (context, config, callbacks) {
      var url = new URL(context.url, window.location.href).href;  // the manifest's may be relative
      var hit = warmed[url];
      this.context = context;
      if (!hit || context.rangeStart || context.rangeEnd) { this.inner.load(context, config, callbacks); return; }
      delete warmed[url];
      var self = this;
      this.callbacks = callbacks;
      hit.then(function (t) {
        if (self.done) { return; }
        self.done = true;
        var stats = self.stats;
        stats.loading.start = t.start;
        stats.loading.first = t.first;
        stats.loading.end = t.end;
        stats.loaded = stats.total = typeof t.data === "string" ? t.data.length : t.data.byteLength;
        callbacks.onSuccess({ url: context.url, data: t.data, code: 200 }, stats, context, null);
      }, function () {
        if (!self.done) { self.callbacks = null; self.inner.load(context, config, callbacks); }
      });
    };
    WarmLoader.prototype.abort = function () {
      if (this.callbacks && !this.done) {
        this.done = true;
        this.stats.aborted = true;
        if (this.callbacks.onAbort) { this.callbacks.onAbort(this.stats, this.context, null); }
        return;
      }
      this.inner.abort();
    };
    WarmLoader.prototype.destroy = function () { this.done = true; this.callbacks = null; this.inner.destroy(); };
    WarmLoader.prototype.getCacheAge = function () { return this.inner.getCacheAge ? this.inner.getCacheAge() : null; };
    WarmLoader.prototype.getResponseHeader = function (name) {
      return this.inner.getResponseHeader ? this.inner.getResponseHeader(name) : null;
    };
    return WarmLoader;
  }

  function withPlayerScript(then) {
    if (window.Hls || !wantsHlsJs() || !d.hlsScript) { then(); return; }
    var s = document.createElement("script");
    s.src = d.hlsScript;
    s.onload = then;
    s.onerror = function () { say("播放组件加载失败，请检查网络后重试，或下载后观看。"); then(); };
    document.head.appendChild(s);
  }

  function load(src, at) {
    attached = true;
    if (hls) { hls.destroy(); hls = null; }
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ enableWorker: false, capLevelToPlayerSize: true, startLevel: START_LEVEL,
                             maxBufferLength: 20, loader: warmLoader(window.Hls.DefaultConfig.loader) });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { applyQuality(true); seekTo(at); });
      hls.on(window.Hls.Events.ERROR, function (event, data) {
        if (!data.fatal) { return; }
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) { say("网络不稳定，正在重新连接…"); hls.startLoad(); }
        else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); }
        else { say("播放出错，请刷新页面或下载后观看。"); }
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
      video.addEventListener("loadedmetadata", function () { seekTo(at); }, { once: true });
    } else {
      video.src = d.download;  // no HLS at all: the small MP4 still plays
      video.addEventListener("loadedmetadata", function () { seekTo(at); }, { once: true });
    }
  }

  // At the start "自动" keeps the configured start level: setting -1 there would make hls.js
  // download a first segment only to measure the speed (then again to play it).
  function applyQuality(starting) {
    if (!hls || !qualitySelect || audioMode) { return; }
    var level = parseInt(qualitySelect.value, 10);
    if (isNaN(level)) { level = -1; }
    if (starting && level < 0) { return; }
    hls.currentLevel = level;
  }

  if (qualitySelect) {
    qualitySelect.addEventListener("change", function () {
      try { localStorage.setItem("school-quality", qualitySelect.value); } catch (e) { /* private mode */ }
      applyQuality();
    });
    try {
      var savedQuality = localStorage.getItem("school-quality");
      if (savedQuality !== null && qualitySelect.querySelector('option[value="' + savedQuality + '"]')) {
        qualitySelect.value = savedQuality;
      }
    } catch (e) { /* private mode */ }
  }

  speedSelect.addEventListener("change", function () { video.playbackRate = parseFloat(speedSelect.value) || 1; });
  video.addEventListener("loadedmetadata", function () { video.playbackRate = parseFloat(speedSelect.value) || 1; });

  function setAudioMode(on) {
    audioMode = on;
    var at = video.currentTime || parseFloat(d.resume) || 0;
    var wasPlaying = !video.paused;
    root.classList.toggle("audio-only", on);
    if (audioToggle) {
      audioToggle.setAttribute("aria-pressed", on ? "true" : "false");
      audioToggle.textContent = on ? "看视频" : "只听声音";
    }
    if (qualitySelect) { qualitySelect.disabled = on; }
    if (!attached) { return; }  // the first play press loads the chosen mode
    load(on ? d.audio : d.master, at);
    if (wasPlaying) { video.play(); }
  }
  if (audioToggle) { audioToggle.addEventListener("click", function () { setAudioMode(!audioMode); }); }

  // First viewing of a required course: no seeking past what has been watched.
  video.addEventListener("timeupdate", function () {
    if (!video.seeking && video.currentTime <= localReach + 3) { localReach = Math.max(localReach, video.currentTime); }
  });
  video.addEventListener("seeking", function () {
    var limit = Math.max(furthest, localReach);
    if (seekLocked && video.currentTime > limit + 2) {
      video.currentTime = limit;
      say("必修课首次学习时不能快进到还没看过的地方。");
    }
  });

  function beat(force) {
    if (stopped || !started || (away && !wantTakeover)) { return; }
    if (inFlight) { if (wantTakeover) { setTimeout(function () { beat(true); }, 500); } return; }
    var position = video.currentTime || 0;
    var playing = !video.paused && !video.ended;
    if (!force && lastSent && !playing && !lastSent.playing && Math.abs(lastSent.position - position) < 0.5) { return; }
    seq += 1;
    inFlight = true;
    var body = { tab: tab, seq: seq, position: position, playing: playing, rate: video.playbackRate,
                 sent_at: Date.now() / 1000, takeover: wantTakeover };
    wantTakeover = false;
    fetch(d.heartbeat, { method: "POST", credentials: "same-origin",
                         headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
                         body: JSON.stringify(body) })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        inFlight = false;
        if (res.accepted) { lastSent = body; }
        handle(res, body);
      })
      .catch(function () { inFlight = false; say("网络中断，恢复后会继续记录学习进度。"); });
  }

  function handle(res, body) {
    if (res.error) { say(res.error); return; }
    if (res.reason === "too_frequent") {
      if (body.takeover) { wantTakeover = true; }
      setTimeout(function () { beat(true); }, 2500);
      return;
    }
    if (res.superseded) {
      // The server's study clock is held by another page: this one earns nothing until taken back.
      away = true;
      elsewhereBox.hidden = false;
      video.pause();
      say("你正在另一处学习，此处暂停计时");
      return;
    }
    if (res.accepted && away) { away = false; elsewhereBox.hidden = true; say(""); }
    if (typeof res.furthest === "number") { furthest = Math.max(furthest, res.furthest); }
    if (typeof res.percent === "number") { document.getElementById("watched-percent").textContent = res.percent; }
    if (res.presence_prompt && !idleDialog.open) {
      // The server decided the prompt is due; nothing is credited until it is answered.
      video.pause();
      if (idleDialog.showModal) { idleDialog.showModal(); } else { idleDialog.setAttribute("open", ""); }
    }
    if (res.lesson_complete) {
      say("本课已学完。");
      if (seekLocked) { seekLocked = false; }
    }
    if (res.course_complete && res.credit_hours) {
      var credit = document.getElementById("course-credit");
      document.getElementById("credit-hours").textContent = String(parseFloat(res.credit_hours));
      credit.hidden = false;
    }
  }

  document.getElementById("idle-continue").addEventListener("click", function () {
    fetch(d.stillHere, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
      .then(function () {
        if (idleDialog.close) { idleDialog.close(); } else { idleDialog.removeAttribute("open"); }
        video.play();
      });
  });

  function takeBack() {
    wantTakeover = true;
    var played = video.play();
    if (played && played.then) { played.then(function () { beat(true); }, function () { beat(true); }); }
    else { beat(true); }
  }
  document.getElementById("take-back").addEventListener("click", takeBack);

  var loading = false;
  function firstPlay() {
    if (loading) { return; }
    loading = true;
    say("正在加载视频…");
    var automatic = !qualitySelect || parseInt(qualitySelect.value, 10) <= 0;
    if (wantsHlsJs() && window.fetch && window.URL && (audioMode || automatic)) {
      warmStream(new URL(audioMode ? d.audio : d.master, window.location.href).href, parseFloat(d.resume) || 0);
    }
    withPlayerScript(function () {
      if (!attached) { load(audioMode ? d.audio : d.master, parseFloat(d.resume) || 0); }
      say("");
      var played = video.play();
      if (played && played.catch) { played.catch(function () { /* the member presses play again */ }); }
      onPlay();  // the element may not fire "play" again: it never paused in between
    });
  }

  video.addEventListener("play", function () {
    if (!attached) { firstPlay(); return; }
    onPlay();
  });

  function onPlay() {
    // Pressing play is the member choosing this page: it takes the study clock.
    if (!started) { started = true; wantTakeover = true; beat(true); }
    else if (away && !wantTakeover) { takeBack(); }
  }
  video.addEventListener("pause", function () { beat(true); });
  video.addEventListener("ended", function () { beat(true); });
  setInterval(function () { beat(false); }, HEARTBEAT_MS);

  root.classList.toggle("audio-only", audioMode);
  if (audioToggle && audioMode) { audioToggle.setAttribute("aria-pressed", "true"); audioToggle.textContent = "看视频"; }
  if (qualitySelect) { qualitySelect.disabled = audioMode; }
}());
