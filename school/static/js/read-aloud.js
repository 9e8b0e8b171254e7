// 朗读: reads a library document or a text lesson aloud with the browser's own speech
// synthesis, starting from the article in view (or the one the address points at) and going
// on article by article. The bar stays hidden unless the browser offers a Chinese voice —
// voices arrive asynchronously, so it waits for "voiceschanged" as well.
// Pause and speed changes cancel the utterance and speak the current sentence again: Android's
// pause()/resume() are unreliable and a new rate only applies to a new utterance.
(function () {
  "use strict";
  var bar = document.getElementById("read-aloud");
  var synth = window.speechSynthesis;
  if (!bar || !synth || !window.SpeechSynthesisUtterance) { return; }
  var startButton = document.getElementById("read-aloud-start");
  var pauseButton = document.getElementById("read-aloud-pause");
  var stopButton = document.getElementById("read-aloud-stop");
  var rateSelect = document.getElementById("read-aloud-rate");
  var statusLine = document.getElementById("read-aloud-status");
  var BLOCKS = "h1, h2, h3, h4, h5, h6, p, li, blockquote, pre, td, th";
  var HEADINGS = /^H[1-6]$/;
  var CHUNK = 120;  // characters per utterance: long utterances stop early in some browsers

  var voice = null;
  var units = [];      // [{elements: [...], label: "第十条"}]
  var unitIndex = 0;
  var chunks = [];     // sentences of the current unit
  var chunkIndex = 0;
  var state = "idle";  // idle | speaking | paused
  var generation = 0;  // events of cancelled utterances carry an older generation and are ignored

  // "zh-CN", "zh_CN", or Android's "cmn-Hans-CN" (Mandarin); Cantonese (zh-HK) only as a last resort.
  function isChinese(v) { return /^(zh|cmn)([-_]|$)/i.test(v.lang || ""); }

  function pickVoice() {
    var voices = synth.getVoices() || [];
    var chinese = voices.filter(isChinese);
    var mainland = chinese.filter(function (v) { return /^(zh|cmn)[-_](CN|Hans)/i.test(v.lang); });
    var pool = mainland.length ? mainland : chinese;
    var local = pool.filter(function (v) { return v.localService; });  // works offline
    voice = local[0] || pool[0] || null;
    bar.hidden = !voice;
    if (!voice && state !== "idle") { stop(); }
  }

  // Reading units in document order: an article (p.article) with the paragraphs that follow
  // it, a heading, or — outside articles, as in most text lessons — a single paragraph.
  function collectUnits() {
    var roots = document.querySelectorAll(bar.dataset.source);
    var blocks = [];
    Array.prototype.forEach.call(roots, function (root) {
      if (root.matches(BLOCKS)) { blocks.push(root); return; }
      Array.prototype.forEach.call(root.querySelectorAll(BLOCKS), function (el) {
        var outer = el.parentElement && el.parentElement.closest(BLOCKS);
        if (!outer || !root.contains(outer)) { blocks.push(el); }  // a <p> inside an <li> is read with it
      });
    });
    var list = [];
    var open = null;  // the article still collecting its paragraphs
    blocks.forEach(function (el) {
      if (!text(el)) { return; }
      if (el.classList.contains("article") || HEADINGS.test(el.tagName) || !open) {
        var unit = { elements: [el], label: el.classList.contains("article") ? el.id : "" };
        list.push(unit);
        open = el.classList.contains("article") ? unit : null;
      } else {
        open.elements.push(el);
      }
    });
    return list;
  }

  function clean(s) { return s.replace(/\s+/g, " ").trim(); }
  function text(el) { return clean(el.textContent || ""); }

  function bounds(unit) {
    var first = unit.elements[0].getBoundingClientRect();
    var last = unit.elements[unit.elements.length - 1].getBoundingClientRect();
    return { top: first.top, bottom: last.bottom };
  }

  // The address's article if it is on screen, else the first unit mostly visible below the
  // bar (a unit whose last lines are about to scroll away has been read already).
  function currentIndex() {
    var hash = "";
    try { hash = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { hash = ""; }
    var target = hash ? document.getElementById(hash) : null;
    var screen = window.innerHeight;
    var i, b;
    if (target) {
      for (i = 0; i < units.length; i++) {
        if (units[i].elements.indexOf(target) >= 0) {
          b = bounds(units[i]);
          if (b.bottom > 0 && b.top < screen) { return i; }
          break;
        }
      }
    }
    var barBox = bar.getBoundingClientRect();
    var line = barBox.top <= 1 ? barBox.bottom : 0;  // the bar is stuck at the top and covers this much
    for (i = 0; i < units.length; i++) {
      b = bounds(units[i]);
      var visible = Math.min(b.bottom, screen) - Math.max(b.top, line);
      if (visible > 0 && visible >= Math.min((b.bottom - b.top) / 2, screen / 3)) { return i; }
    }
    return 0;
  }

  // Sentences, then commas, so each utterance stays short.
  function split(s) {
    var parts = s.match(/[^。！？；!?;]+[。！？；!?;”’」』）)]*/g) || [s];
    var out = [];
    parts.forEach(function (p) {
      p = p.trim();
      while (p.length > CHUNK) {
        var cut = Math.max(p.lastIndexOf("，", CHUNK), p.lastIndexOf("、", CHUNK), p.lastIndexOf(",", CHUNK));
        cut = cut > CHUNK / 3 ? cut + 1 : CHUNK;
        out.push(p.slice(0, cut));
        p = p.slice(cut).trim();
      }
      if (p) { out.push(p); }
    });
    return out;
  }

  function mark(on) {
    var unit = units[unitIndex];
    if (!unit) { return; }
    unit.elements.forEach(function (el) { el.classList.toggle("reading-now", on); });
  }

  function rate() { return parseFloat(rateSelect.value) || 1; }

  function speak() {
    generation += 1;
    var mine = generation;
    var u = new window.SpeechSynthesisUtterance(chunks[chunkIndex]);
    u.voice = voice;
    u.lang = voice.lang;
    u.rate = rate();
    u.onend = function () { if (mine === generation && state === "speaking") { advance(); } };
    u.onerror = function (event) {
      if (mine !== generation || (event && (event.error === "interrupted" || event.error === "canceled"))) { return; }
      stop();
      say("朗读出错，请再试一次");
    };
    synth.speak(u);
  }

  function enterUnit(index) {
    mark(false);
    unitIndex = index;
    chunks = split(clean(units[index].elements.map(text).join(" ")));
    chunkIndex = 0;
    say("正在朗读" + (units[index].label ? "：" + units[index].label : ""));
    mark(true);
    reveal(units[index]);  // after the status line: it may make the bar taller
  }

  // Bring the unit's start just below the bar when the bar hides it or it is off screen.
  function reveal(unit) {
    var barBox = bar.getBoundingClientRect();
    var top = barBox.top <= 1 ? barBox.bottom : 0;
    var b = bounds(unit);
    if (b.top < top || b.top > window.innerHeight - 48) {
      window.scrollBy(0, b.top - top - 8);
    }
  }

  function advance() {
    if (chunkIndex + 1 < chunks.length) { chunkIndex += 1; speak(); return; }
    if (unitIndex + 1 < units.length) { enterUnit(unitIndex + 1); speak(); return; }
    stop();
    say(bar.dataset.endText || "已读完");
  }

  function say(s) { statusLine.textContent = s; }

  function show() {
    startButton.hidden = state !== "idle";
    pauseButton.hidden = state === "idle";
    stopButton.hidden = state === "idle";
    pauseButton.textContent = state === "paused" ? "继续" : "暂停";
    pauseButton.setAttribute("aria-pressed", state === "paused" ? "true" : "false");
    bar.classList.toggle("active", state !== "idle");
  }

  function start() {
    if (!voice) { return; }
    units = collectUnits();
    if (!units.length) { return; }
    synth.cancel();  // anything still queued from another page
    var index = currentIndex();
    state = "speaking";
    show();  // the bar grows first, so the unit can be placed below it
    enterUnit(index);
    speak();
  }

  function pause() {
    state = "paused";
    generation += 1;
    synth.cancel();
    say("已暂停");
    show();
  }

  function resume() {
    state = "speaking";
    say("正在朗读" + (units[unitIndex].label ? "：" + units[unitIndex].label : ""));
    speak();  // the interrupted sentence again, from its start
    show();
  }

  function stop() {
    state = "idle";
    generation += 1;
    synth.cancel();
    mark(false);
    say("");
    show();
  }

  startButton.addEventListener("click", start);
  pauseButton.addEventListener("click", function () { if (state === "paused") { resume(); } else { pause(); } });
  stopButton.addEventListener("click", stop);
  rateSelect.addEventListener("change", function () {
    try { localStorage.setItem("school-read-rate", rateSelect.value); } catch (e) { /* private mode */ }
    if (state === "speaking") { generation += 1; synth.cancel(); speak(); }
  });
  try {
    var saved = localStorage.getItem("school-read-rate");
    if (saved && rateSelect.querySelector('option[value="' + saved + '"]')) { rateSelect.value = saved; }
  } catch (e) { /* private mode */ }
  window.addEventListener("pagehide", function () { if (state !== "idle") { stop(); } });

  pickVoice();
  if (synth.addEventListener) { synth.addEventListener("voiceschanged", pickVoice); }
  else { synth.onvoiceschanged = pickVoice; }
  window.setTimeout(pickVoice, 1500);  // some browsers fill getVoices() without the event
})();
