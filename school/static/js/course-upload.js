// Editor page: chunked, resumable video upload with a progress bar, and live transcode progress.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var CHUNK = 4 * 1024 * 1024;

  function api(method, url, body, isJson) {
    var headers = { "X-CSRFToken": csrf };
    if (isJson) { headers["Content-Type"] = "application/json"; }
    return fetch(url, { method: method, credentials: "same-origin", headers: headers,
                        body: body === undefined ? undefined : (isJson ? JSON.stringify(body) : body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) { data.httpStatus = r.status; return data; });
      });
  }

  // --- transcode progress of lessons already on the page ---
  function watchStatus(box) {
    var url = box.dataset.statusUrl;
    var text = box.querySelector(".status-text");
    var bar = box.querySelector("progress");
    var percent = box.querySelector(".status-percent");
    function poll() {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        if (s.status === "ready" || s.status === "failed") { window.location.reload(); return; }
        if (s.job) {
          if (text) { text.textContent = s.job.state_label; }
          if (bar) { bar.value = s.job.progress; }
          if (percent) { percent.textContent = s.job.progress + "%"; }
        }
        setTimeout(poll, 3000);
      }).catch(function () { setTimeout(poll, 6000); });
    }
    poll();
  }
  Array.prototype.forEach.call(document.querySelectorAll('.media-status[data-state="processing"]'), watchStatus);

  // --- the uploader ---
  var box = document.getElementById("uploader");
  if (!box) { return; }
  var fileInput = document.getElementById("upload-file");
  var titleInput = document.getElementById("upload-title-input");
  var button = document.getElementById("upload-button");
  var retryButton = document.getElementById("upload-retry");
  var bar = document.getElementById("upload-progress");
  var statusLine = document.getElementById("upload-status");
  var busy = false;

  function say(text) { statusLine.textContent = text; }
  function storageKey(file) { return "school-upload:" + box.dataset.startUrl + ":" + file.name + ":" + file.size + ":" + file.lastModified; }
  function remember(file, token) { try { localStorage.setItem(storageKey(file), token); } catch (e) { /* private mode */ } }
  function forget(file) { try { localStorage.removeItem(storageKey(file)); } catch (e) { /* private mode */ } }
  function recall(file) { try { return localStorage.getItem(storageKey(file)); } catch (e) { return null; } }

  function fail(message) {
    busy = false;
    button.disabled = false;
    retryButton.hidden = false;
    say("上传失败：" + message);
  }

  function begin(file, title) {
    var saved = recall(file);
    if (saved) {
      return api("GET", box.dataset.baseUrl + encodeURIComponent(saved)).then(function (s) {
        if (s.httpStatus === 200) { return { token: saved, received: s.received }; }
        forget(file);
        return begin(file, title);
      });
    }
    return api("POST", box.dataset.startUrl, { filename: file.name, size: file.size, title: title }, true).then(function (s) {
      if (s.httpStatus !== 200) { throw new Error(s.error || "无法开始上传"); }
      remember(file, s.token);
      return { token: s.token, received: s.received };
    });
  }

  function sendFrom(file, token, offset, failures) {
    bar.value = file.size ? Math.floor(offset / file.size * 100) : 0;
    say("正在上传… " + bar.value + "%（" + (offset / 1048576).toFixed(1) + " / " + (file.size / 1048576).toFixed(1) + " MB）");
    if (offset >= file.size) { return finish(file, token); }
    var chunk = file.slice(offset, Math.min(offset + CHUNK, file.size));
    var url = box.dataset.baseUrl + encodeURIComponent(token) + "/chunk?offset=" + offset;
    return api("POST", url, chunk, false).then(function (s) {
      if (s.httpStatus === 200) { return sendFrom(file, token, s.received, 0); }
      if (s.httpStatus === 409 && typeof s.received === "number") { return sendFrom(file, token, s.received, failures); }
      throw new Error(s.error || "服务器拒绝了这一段数据");
    }, function () {
      // The connection dropped: wait and resume from what the server has.
      if (failures >= 8) { throw new Error("网络连接中断，请检查网络后点“重试”，会从断点继续"); }
      say("网络中断，" + (failures + 1) * 2 + " 秒后自动续传…");
      return new Promise(function (resolve) { setTimeout(resolve, (failures + 1) * 2000); }).then(function () {
        return api("GET", box.dataset.baseUrl + encodeURIComponent(token)).then(function (s) {
          return sendFrom(file, token, s.httpStatus === 200 ? s.received : offset, failures + 1);
        }, function () { return sendFrom(file, token, offset, failures + 1); });
      });
    });
  }

  function finish(file, token) {
    say("上传完成，正在检查文件…");
    return api("POST", box.dataset.baseUrl + encodeURIComponent(token) + "/finish", {}, true).then(function (s) {
      forget(file);
      if (s.httpStatus !== 200) { throw new Error(s.error || "文件检查未通过"); }
      bar.value = 100;
      say("文件已收到，正在转码，稍后即可播放。");
      busy = false;
      setTimeout(function () { window.location.reload(); }, 1200);
    });
  }

  function start() {
    if (busy) { return; }
    var file = fileInput.files && fileInput.files[0];
    var title = titleInput.value.trim();
    if (!title) { say("请填写课时标题"); titleInput.focus(); return; }
    if (!file) { say("请选择视频文件"); fileInput.focus(); return; }
    busy = true;
    button.disabled = true;
    retryButton.hidden = true;
    bar.hidden = false;
    begin(file, title).then(function (s) { return sendFrom(file, s.token, s.received, 0); })
      .catch(function (err) { fail(err.message || String(err)); });
  }

  button.addEventListener("click", start);
  retryButton.addEventListener("click", start);
}());
