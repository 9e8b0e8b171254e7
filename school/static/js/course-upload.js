// Editor page: chunked, resumable video upload with a progress bar, and live transcode progress.
// Progress is the browser's own upload progress (XHR), with speed and time remaining; chunks
// shrink to 256 KB on a slow uplink (each aims at ~8 s) and grow back to 4 MB on a fast one;
// 暂停 aborts the chunk in flight and 继续 resumes from what the server has.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var MIN_CHUNK = 256 * 1024, MAX_CHUNK = 4 * 1024 * 1024, CHUNK_SECONDS = 8;
  var chunkSize = 1024 * 1024;  // a first guess; adapted after every chunk

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
  var pauseButton = document.getElementById("upload-pause");
  var busy = false;
  var paused = false;
  var inFlight = null;  // the XHR of the chunk being sent
  var speed = 0;  // bytes per second, smoothed

  function PausedError() { this.message = "paused"; }

  // One chunk by XHR: upload.onprogress reports bytes as they leave, not only when a chunk ends.
  function sendChunk(url, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      inFlight = xhr;
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () {
        inFlight = null;
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        data.httpStatus = xhr.status;
        resolve(data);
      };
      xhr.onerror = xhr.ontimeout = function () { inFlight = null; reject(new Error("network")); };
      xhr.onabort = function () { inFlight = null; reject(new PausedError()); };
      xhr.send(blob);
    });
  }

  function clock(seconds) {
    if (!isFinite(seconds) || seconds < 0) { return "—"; }
    seconds = Math.round(seconds);
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m >= 60 ? Math.floor(m / 60) + " 小时 " + (m % 60) + " 分" : (m ? m + " 分 " : "") + s + " 秒";
  }

  function showProgress(file, sent) {
    bar.value = file.size ? Math.floor(sent / file.size * 100) : 0;
    var line = "正在上传… " + bar.value + "%（" + (sent / 1048576).toFixed(1) + " / " + (file.size / 1048576).toFixed(1) + " MB）";
    if (speed > 0) {
      line += " · " + (speed >= 1048576 ? (speed / 1048576).toFixed(1) + " MB/秒" : Math.round(speed / 1024) + " KB/秒") +
              " · 还需约 " + clock((file.size - sent) / speed);
    }
    say(line);
  }

  function say(text) { statusLine.textContent = text; }
  function storageKey(file) { return "school-upload:" + box.dataset.startUrl + ":" + file.name + ":" + file.size + ":" + file.lastModified; }
  function remember(file, token) { try { localStorage.setItem(storageKey(file), token); } catch (e) { /* private mode */ } }
  function forget(file) { try { localStorage.removeItem(storageKey(file)); } catch (e) { /* private mode */ } }
  function recall(file) { try { return localStorage.getItem(storageKey(file)); } catch (e) { return null; } }

  function fail(message) {
    busy = false;
    pauseButton.hidden = true;
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
    showProgress(file, offset);
    if (paused) { throw new PausedError(); }
    if (offset >= file.size) { return finish(file, token); }
    var chunk = file.slice(offset, Math.min(offset + chunkSize, file.size));
    var url = box.dataset.baseUrl + encodeURIComponent(token) + "/chunk?offset=" + offset;
    var started = Date.now(), lastAt = started, lastBytes = 0;
    return sendChunk(url, chunk, function (loaded) {
      var now = Date.now();
      if (now - lastAt >= 500) {  // smoothed bytes per second from the browser's own progress
        var rate = (loaded - lastBytes) / ((now - lastAt) / 1000);
        speed = speed ? speed * 0.7 + rate * 0.3 : rate;
        lastAt = now; lastBytes = loaded;
      }
      showProgress(file, offset + loaded);
    }).then(function (s) {
      var seconds = Math.max((Date.now() - started) / 1000, 0.05);
      // The next chunk aims at CHUNK_SECONDS at the speed this one went: small on a slow uplink
      // (less to resend when it drops), big on a fast one (fewer round trips).
      var target = chunk.size / seconds * CHUNK_SECONDS;
      chunkSize = Math.max(MIN_CHUNK, Math.min(MAX_CHUNK, Math.floor(target / MIN_CHUNK) * MIN_CHUNK));
      if (s.httpStatus === 200) { return sendFrom(file, token, s.received, 0); }
      if (s.httpStatus === 409 && typeof s.received === "number") { return sendFrom(file, token, s.received, failures); }
      throw new Error(s.error || "服务器拒绝了这一段数据");
    }, function (err) {
      if (err instanceof PausedError) { throw err; }
      chunkSize = MIN_CHUNK;  // it dropped: resend little at a time
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
      pauseButton.hidden = true;
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
    paused = false;
    pauseButton.hidden = false;
    pauseButton.textContent = "暂停";
    pauseButton.setAttribute("aria-pressed", "false");
    begin(file, title).then(function (s) { return sendFrom(file, s.token, s.received, 0); })
      .catch(function (err) {
        if (err instanceof PausedError) {
          busy = false;
          say("已暂停，点“继续”从断点接着上传（" + bar.value + "%）。");
          return;
        }
        fail(err.message || String(err));
      });
  }

  pauseButton.addEventListener("click", function () {
    if (!paused) {
      paused = true;
      pauseButton.textContent = "继续";
      pauseButton.setAttribute("aria-pressed", "true");
      if (inFlight) { inFlight.abort(); }
    } else {
      button.disabled = false;
      busy = false;
      start();  // asks the server what it has and carries on from there
    }
  });

  button.addEventListener("click", start);
  retryButton.addEventListener("click", start);
}());
