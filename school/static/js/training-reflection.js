// 心得体会 autosave: the draft is POSTed a few seconds after typing stops, and when the page
// is hidden or left (fetch keepalive). Each save carries a growing revision, so a late, stale
// request never overwrites newer text on the server. Without JavaScript the page is a plain
// form (保存草稿 / 提交审阅).
(function () {
  "use strict";
  var form = document.getElementById("reflection-form");
  if (!form) return;
  var box = form.querySelector("textarea[name=body]");
  var revisionInput = form.querySelector("input[name=revision]");
  var status = document.getElementById("autosave-status");
  var count = document.getElementById("char-count");
  var url = form.getAttribute("data-autosave");
  var min = parseInt(form.getAttribute("data-min"), 10) || 0;
  var token = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var revision = parseInt(revisionInput && revisionInput.value, 10) || 0;
  var saved = box.value;
  var timer = null;
  var submitting = false;

  function length(text) { return text.replace(/\s+/g, "").length; }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function showCount() {
    var n = length(box.value);
    count.textContent = "已写 " + n + " 字" + (n < min ? "（还差 " + (min - n) + " 字）" : "");
  }

  function save(keepalive) {
    if (box.value === saved) return;
    var text = box.value;
    revision += 1;
    if (revisionInput) revisionInput.value = revision;
    fetch(url, {
      method: "POST", keepalive: !!keepalive, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({body: text, revision: revision})
    }).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, data: data}; });
    }).then(function (result) {
      if (result.ok) {
        saved = text;
        var now = new Date();
        status.textContent = "已自动保存 " + two(now.getHours()) + ":" + two(now.getMinutes()) + ":" + two(now.getSeconds());
      } else if (result.data.stale) {
        // The server holds a newer revision (a form post, another tab): continue after it.
        revision = Math.max(revision, result.data.revision);
        if (box.value === text) save(false);
      } else {
        status.textContent = result.data.error || "自动保存失败";
      }
    }).catch(function () {
      status.textContent = "网络不通，稍后会再试；也可以点“保存草稿”";
    });
  }

  box.addEventListener("input", function () {
    showCount();
    clearTimeout(timer);
    timer = setTimeout(function () { save(false); }, 3000);
  });
  form.addEventListener("submit", function (event) {
    if (submitting) { event.preventDefault(); return; }  // a double click sends one post
    submitting = true;
    clearTimeout(timer);
    saved = box.value;  // the form post carries the text itself
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") save(true);
  });
  window.addEventListener("pagehide", function () { save(true); });
  setInterval(function () { save(false); }, 15000);
  showCount();
})();
