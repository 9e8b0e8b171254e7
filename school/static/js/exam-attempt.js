/* Exam attempt page: server-time timer, debounced autosave per question, an offline copy in
   localStorage that is re-sent when the connection returns, navigator, auto-submit.
   The server decides everything; this script only keeps the member's answers safe. */
(function () {
  "use strict";
  var root = document.getElementById("attempt");
  if (!root) { return; }
  var form = document.getElementById("attempt-form");
  var statusEl = document.getElementById("save-status");
  var banner = document.getElementById("save-failed");
  var timerEl = document.getElementById("timer");
  var saveUrl = root.dataset.saveUrl;
  var resultUrl = root.dataset.resultUrl;
  var deadline = root.dataset.deadline ? parseInt(root.dataset.deadline, 10) : null;
  var offset = parseInt(root.dataset.serverNow, 10) - Date.now();  // server clock minus phone clock
  var storeKey = "exam-attempt-" + root.dataset.attempt;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.question"));
  var timers = {};
  var sending = false;
  var submitting = false;
  var finished = false;

  function serverNow() { return Date.now() + offset; }

  function loadPending() {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
  }
  // Integrity counts for graders (page left, pastes into written answers); kept like the answers.
  function loadSignals() {
    try {
      var s = JSON.parse(window.localStorage.getItem(storeKey + "-signals") || "{}");
      return { hidden: s.hidden || 0, pastes: s.pastes || {} };
    } catch (e) { return { hidden: 0, pastes: {} }; }
  }
  function countSignal(kind, qid) {
    var s = loadSignals();
    if (kind === "hidden") { s.hidden += 1; } else { s.pastes[qid] = (s.pastes[qid] || 0) + 1; }
    try { window.localStorage.setItem(storeKey + "-signals", JSON.stringify(s)); } catch (e) { /* storage full */ }
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden" && !finished && !submitting) { countSignal("hidden"); }
  });

  function storePending(pending) {
    try { window.localStorage.setItem(storeKey, JSON.stringify(pending)); } catch (e) { /* storage full: the server copy remains */ }
  }

  function responseOf(section) {
    var id = section.dataset.qid;
    var type = section.dataset.qtype;
    var name = "q" + id;
    var checked = section.querySelectorAll('input[name="' + name + '"]:checked');
    if (type === "single") { return checked.length ? { choice: parseInt(checked[0].value, 10) } : null; }
    if (type === "multiple") {
      var list = [];
      checked.forEach(function (el) { list.push(parseInt(el.value, 10)); });
      return list.length ? { choices: list } : null;
    }
    if (type === "truefalse") { return checked.length ? { value: checked[0].value === "true" } : null; }
    if (type === "fill" || type === "numeric") {
      var text = section.querySelector('input[name="' + name + '"]').value;
      if (!text.trim()) { return null; }
      return type === "fill" ? { text: text } : { value: text };
    }
    if (type === "short" || type === "essay") {
      var written = section.querySelector("textarea").value;
      return written.trim() ? { text: written } : null;
    }
    if (type === "matching") {
      var pairs = {};
      var any = false;
      section.querySelectorAll("select").forEach(function (sel) {
        if (sel.value !== "") { pairs[sel.name.split(".")[1]] = parseInt(sel.value, 10); any = true; }
      });
      return any ? { pairs: pairs } : null;
    }
    return null;
  }

  function applyResponse(section, response, flagged) {
    var name = "q" + section.dataset.qid;
    var type = section.dataset.qtype;
    response = response || {};
    section.querySelectorAll('input[name="' + name + '"]').forEach(function (el) {
      if (type === "single") { el.checked = response.choice === parseInt(el.value, 10); }
      else if (type === "multiple") { el.checked = (response.choices || []).indexOf(parseInt(el.value, 10)) >= 0; }
      else if (type === "truefalse") { el.checked = response.value === (el.value === "true"); }
      else if (type === "fill") { el.value = response.text || ""; }
      else if (type === "numeric") { el.value = response.value || ""; }
    });
    if (type === "matching") {
      section.querySelectorAll("select").forEach(function (sel) {
        var v = (response.pairs || {})[sel.name.split(".")[1]];
        sel.value = v === undefined ? "" : String(v);
      });
    }
    if (type === "short" || type === "essay") {
      section.querySelector("textarea").value = response.text || "";
      countChars(section);
    }
    section.querySelector(".flag-input").checked = !!flagged;
  }

  // Written answers: characters as the server counts them (code points, not UTF-16 units).
  function countChars(section) {
    var area = section.querySelector("textarea.written");
    var out = section.querySelector(".char-count .count");
    if (!area || !out) { return; }
    var n = Array.from(area.value).length;
    out.textContent = String(n);
    var min = parseInt(area.dataset.min || "0", 10);
    section.querySelector(".char-count").classList.toggle("failed", (min > 0 && n > 0 && n < min) ||
      n > parseInt(area.dataset.max || "0", 10));
  }

  function refreshNavigator(section) {
    var link = document.querySelector('.nav-item[data-qid="' + section.dataset.qid + '"]');
    if (!link) { return; }
    link.classList.toggle("answered", responseOf(section) !== null);
    link.classList.toggle("flagged", section.querySelector(".flag-input").checked);
  }

  function setStatus(text, failed) {
    statusEl.textContent = text;
    statusEl.classList.toggle("failed", !!failed);
    banner.hidden = !failed;
  }

  function itemsOf(pending) {
    return Object.keys(pending).map(function (id) {
      var p = pending[id];
      return { question: parseInt(id, 10), response: p.response, flagged: p.flagged, rev: p.rev };
    });
  }

  function goToResult() {
    finished = true;
    try { window.localStorage.removeItem(storeKey); window.localStorage.removeItem(storeKey + "-signals"); } catch (e) { /* nothing to clean */ }
    window.location.assign(resultUrl);
  }

  // Sends every answer not yet acknowledged. Resolves true when the server has them all.
  function flush() {
    var pending = loadPending();
    var items = itemsOf(pending);
    if (!items.length) { return Promise.resolve(true); }
    if (sending) { return new Promise(function (resolve) { setTimeout(function () { resolve(flush()); }, 300); }); }
    sending = true;
    var sentAt = Date.now();
    return fetch(saveUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify({ answers: items, signals: loadSignals() })
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) { return { resp: resp, body: body }; });
    }).then(function (r) {
      sending = false;
      if (r.body.server_time) { offset = r.body.server_time - Math.round((sentAt + Date.now()) / 2); }
      if (r.resp.status === 409 && r.body.finished) { goToResult(); return false; }
      if (!r.resp.ok) { setStatus(r.body.error || "保存失败，稍后自动重试", true); return false; }
      var now = loadPending();
      items.forEach(function (item) {  // keep anything changed again while this request was out
        var key = String(item.question);
        if (now[key] && now[key].rev === item.rev && r.body.saved.indexOf(item.question) >= 0) { delete now[key]; }
      });
      storePending(now);
      var errors = Object.keys(r.body.errors || {});
      if (errors.length) { setStatus("有答案未能保存：" + r.body.errors[errors[0]], true); return false; }
      setStatus("已保存 " + r.body.saved_at, false);
      return Object.keys(now).length === 0;
    }).catch(function () {
      sending = false;
      setStatus("未连接到服务器，答案暂存在本机", true);
      return false;
    });
  }

  function changed(section) {
    var pending = loadPending();
    pending[section.dataset.qid] = {
      response: responseOf(section), flagged: section.querySelector(".flag-input").checked, rev: Math.round(serverNow())
    };
    storePending(pending);
    refreshNavigator(section);
    setStatus("正在保存…", false);
    clearTimeout(timers[section.dataset.qid]);
    timers[section.dataset.qid] = setTimeout(flush, 800);
  }

  sections.forEach(function (section) {
    section.addEventListener("change", function () { changed(section); });
    section.addEventListener("input", function (event) {
      if (event.target.tagName === "INPUT" && event.target.type === "text") { changed(section); }
      if (event.target.tagName === "TEXTAREA") { countChars(section); changed(section); }
    });
    section.addEventListener("paste", function (event) {
      if (event.target.tagName === "TEXTAREA") { countSignal("paste", section.dataset.qid); }
    });
  });

  // A reload (or a crash) while offline: answers kept on this phone and newer than the
  // server's copy go back into the page, then up to the server.
  (function restore() {
    var pending = loadPending();
    var any = false;
    sections.forEach(function (section) {
      var p = pending[section.dataset.qid];
      if (p && p.rev >= parseInt(section.dataset.rev || "0", 10)) { applyResponse(section, p.response, p.flagged); any = true; }
      else if (p) { delete pending[section.dataset.qid]; }
      refreshNavigator(section);
    });
    storePending(pending);
    if (any) { setStatus("正在上传本机暂存的答案…", false); flush(); }
  })();

  window.addEventListener("online", function () { flush(); });
  setInterval(function () { if (Object.keys(loadPending()).length) { flush(); } }, 10000);

  // One question per page: show one section at a time; the navigator jumps.
  var onePerPage = root.dataset.onePerPage === "1";
  var current = 0;
  var pager = document.querySelector(".attempt-pager");
  function show(index) {
    if (!onePerPage) { return; }
    current = Math.max(0, Math.min(sections.length - 1, index));
    sections.forEach(function (s, i) { s.hidden = i !== current; });
    document.getElementById("prev-question").disabled = current === 0;
    document.getElementById("next-question").disabled = current === sections.length - 1;
  }
  if (onePerPage) {
    pager.hidden = false;
    document.getElementById("prev-question").addEventListener("click", function () { show(current - 1); });
    document.getElementById("next-question").addEventListener("click", function () { show(current + 1); });
    show(0);
  }
  document.querySelectorAll("#navigator .nav-item[data-qid]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (!onePerPage) { return; }
      event.preventDefault();
      show(sections.findIndex(function (s) { return s.dataset.qid === link.dataset.qid; }));
    });
  });

  // Handing in: send what is unsent, then post the form with anything still unacknowledged.
  function handIn(auto) {
    if (submitting || finished) { return; }
    submitting = true;
    setStatus(auto ? "时间到，正在自动交卷…" : "正在交卷…", false);
    flush().then(function () {
      document.getElementById("answers-field").value = JSON.stringify(itemsOf(loadPending()));
      if (!navigator.onLine) {
        submitting = false;
        setStatus("网络未连接，恢复连接后会自动交卷", true);
        window.addEventListener("online", function () { handIn(auto); }, { once: true });
        return;
      }
      try { window.localStorage.removeItem(storeKey); } catch (e) { /* the form carries them */ }
      form.submit();
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var unanswered = sections.filter(function (s) { return responseOf(s) === null; }).length;
    var message = unanswered ? "还有 " + unanswered + " 题未作答，确定交卷吗？" : "确定交卷吗？交卷后不能修改。";
    if (window.confirm(message)) { handIn(false); }
  });

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    if (deadline === null || finished) { return; }
    var left = Math.max(0, Math.floor((deadline - serverNow()) / 1000));
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    timerEl.textContent = (h ? h + ":" : "") + pad(m) + ":" + pad(s);
    timerEl.classList.toggle("urgent", left <= 300);
    if (left === 0) { handIn(true); }
  }
  tick();
  setInterval(tick, 1000);
})();
