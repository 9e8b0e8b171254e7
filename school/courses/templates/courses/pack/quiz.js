/* The self-check quiz, offline: nothing is sent anywhere, nothing is counted. A question's
   right options are in data-key only when the exam's review policy lets members see them. */
(function () {
  "use strict";
  function chosen(question) {
    var picked = [];
    question.querySelectorAll("input:checked").forEach(function (box) { picked.push(Number(box.value)); });
    return picked;
  }
  function keyOf(question) {
    var raw = question.getAttribute("data-key");
    return raw === null ? null : raw.split(",").filter(function (s) { return s !== ""; }).map(Number);
  }
  function judge(question) {
    var picked = chosen(question), key = keyOf(question);
    if (!picked.length) return null;
    if (key === null) return "answered";
    return picked.length === key.length && picked.every(function (i) { return key.indexOf(i) >= 0; })
      ? "right" : "wrong";
  }
  function show(question) {
    var verdict = question.querySelector(".verdict"), result = judge(question);
    verdict.className = "verdict";
    if (result === null) { verdict.textContent = "请先选择答案。"; return; }
    if (result === "answered") { verdict.textContent = "已作答。本自测不附答案，请对照课程内容自行检查。"; return; }
    verdict.classList.add(result);
    verdict.textContent = result === "right" ? "✔ 回答正确" : "✘ 回答错误";
    question.querySelectorAll(".answer-text, .explanation").forEach(function (el) { el.hidden = false; });
  }
  document.querySelectorAll(".question .check").forEach(function (button) {
    button.addEventListener("click", function () { show(button.closest(".question")); });
  });
  var tally = document.getElementById("tally");
  if (tally) tally.addEventListener("click", function () {
    var total = 0, answered = 0, right = 0, keyed = 0;
    document.querySelectorAll(".question").forEach(function (question) {
      if (!question.querySelector(".options")) return;
      total += 1;
      var result = judge(question);
      if (result !== null) answered += 1;
      if (keyOf(question) !== null) keyed += 1;
      if (result === "right") right += 1;
    });
    var text = "共 " + total + " 道选择题，已答 " + answered + " 道";
    if (keyed) text += "，答对 " + right + " 道";
    document.getElementById("tally-result").textContent = text + "。自测，不计学时。";
  });
})();
