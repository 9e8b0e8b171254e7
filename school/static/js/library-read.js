// Reading page: restore the reading position, and send heartbeats while the page is
// visible so the server can credit real reading time (it decides what counts).
(function () {
  "use strict";
  var reader = document.getElementById("reader");
  if (!reader) { return; }
  var url = reader.dataset.heartbeatUrl;
  var interval = Math.max(1, parseInt(reader.dataset.interval, 10) || 30) * 1000;
  var status = document.getElementById("reading-status");
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var token = tokenMeta ? tokenMeta.content : "";
  var timer = null;
  var tab = ((window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2)).slice(0, 40);
  var lastInput = Date.now();  // opening the page counts as input
  var takeover = false;  // the next beat claims the member's study clock (opened, came back, button)
  var away = false;
  var elsewhereBox = document.getElementById("elsewhere");
  var presenceDialog = document.getElementById("presence-dialog");

  // The server stops crediting some minutes after the last scroll, touch or key: report it.
  ["scroll", "touchstart", "keydown", "pointerdown", "wheel"].forEach(function (name) {
    window.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true });
  });

  function currentAnchor() {
    var articles = reader.querySelectorAll("p.article, h2[id], h3[id], h4[id]");
    var anchor = "";
    for (var i = 0; i < articles.length; i++) {
      if (articles[i].getBoundingClientRect().top > 120) { break; }
      anchor = articles[i].id;
    }
    return anchor;
  }

  function fraction() {
    var max = document.documentElement.scrollHeight - window.innerHeight;
    return max > 0 ? Math.min(1, Math.max(0, window.scrollY / max)) : 0;
  }

  function beat(visible) {
    if (away && !takeover && visible) { return Promise.resolve(); }
    var body = JSON.stringify({ visible: visible, anchor: currentAnchor(), fraction: fraction(), tab: tab,
                                takeover: takeover, idle_for: (Date.now() - lastInput) / 1000 });
    takeover = false;
    return fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: !visible,
      headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
      body: body
    }).then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.elsewhere) {
          away = true;
          if (elsewhereBox) { elsewhereBox.hidden = false; }
          return;
        }
        if (data && away) { away = false; if (elsewhereBox) { elsewhereBox.hidden = true; } }
        if (data && data.presence_prompt && presenceDialog && !presenceDialog.open) {
          if (presenceDialog.showModal) { presenceDialog.showModal(); } else { presenceDialog.setAttribute("open", ""); }
        }
        if (data && status && data.today_hours && data.today_hours !== "0" && data.today_hours !== "0.00") {
          status.textContent = "· 今日阅读已计 " + parseFloat(data.today_hours) + " 学时";
        }
      })
      .catch(function () { /* offline for a moment: the next beat simply starts a new window */ });
  }

  function start() {
    if (timer === null) {
      takeover = true;  // opening or coming back to the page is choosing to study here
      beat(true);
      timer = window.setInterval(function () { beat(true); }, interval);
    }
  }

  function stop() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
      beat(false);
    }
  }

  var takeBack = document.getElementById("take-back");
  if (takeBack) {
    takeBack.addEventListener("click", function () { takeover = true; lastInput = Date.now(); beat(true); });
  }
  var presenceButton = document.getElementById("presence-continue");
  if (presenceButton) {
    presenceButton.addEventListener("click", function () {
      fetch(reader.dataset.stillHereUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": token } })
        .then(function () {
          if (presenceDialog.close) { presenceDialog.close(); } else { presenceDialog.removeAttribute("open"); }
          lastInput = Date.now();
        });
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { start(); } else { stop(); }
  });
  window.addEventListener("pagehide", stop);

  // A long document shows one part: a link to an article in another part (#第十条) asks the
  // server for the part that holds it.
  var partBox = document.getElementById("doc-part");
  if (partBox && window.location.hash) {
    var wanted = decodeURIComponent(window.location.hash.slice(1));
    if (wanted && !document.getElementById(wanted) && new URLSearchParams(window.location.search).get("at") !== wanted) {
      window.location.replace(partBox.dataset.partsUrl + "?at=" + encodeURIComponent(wanted) + "#" + encodeURIComponent(wanted));
      return;
    }
  }

  // Back to where the member stopped last time, unless the link points at an article.
  if (!window.location.hash) {
    var anchor = reader.dataset.anchor;
    var target = anchor ? document.getElementById(anchor) : null;
    if (target) {
      target.scrollIntoView();
    } else {
      var f = parseFloat(reader.dataset.fraction || "0");
      if (f > 0) { window.scrollTo(0, f * (document.documentElement.scrollHeight - window.innerHeight)); }
    }
  }
  if (document.visibilityState === "visible") { start(); }
})();
