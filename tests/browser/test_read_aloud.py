"""朗读: a document and a text lesson read aloud by the browser's speech synthesis.

Headless Chromium has no voices, so the page gets a stand-in ``speechSynthesis`` (injected
before any script runs) that records each utterance and ends one only when the test says so;
its voices arrive late, through ``voiceschanged``, as in real browsers.
"""
import json
import logging
import time

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

NUMBERS = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]
BODY = "## 第一章 总则\n\n" + "\n\n".join(
    f"第{n}条 本条规定村务管理的第{n}项要求，村民委员会应当认真执行，接受全体村民的监督。" for n in NUMBERS) + \
    "\n\n前款所称村务，包括集体财务。\n\n## 第二章 附则\n\n" + "\n\n".join(
    f"第{n}条 第{n}项附则。" for n in range(11, 41))

FAKE_SPEECH = """
(() => {
  const voices = %s;
  const spoken = [];
  const listeners = [];
  let current = null;
  const synth = {
    speaking: false, pending: false, paused: false, onvoiceschanged: null,
    getVoices() { return window.__voicesReady ? voices : []; },
    speak(u) {
      spoken.push({ text: u.text, rate: u.rate, lang: u.lang, voice: u.voice ? u.voice.name : null });
      current = u; synth.speaking = true;
    },
    cancel() {
      const u = current; current = null; synth.speaking = false;
      if (u && u.onerror) { setTimeout(() => u.onerror({ error: "interrupted" }), 0); }
    },
    pause() { synth.paused = true; }, resume() { synth.paused = false; },
    addEventListener(name, fn) { if (name === "voiceschanged") { listeners.push(fn); } },
    removeEventListener() {},
  };
  window.__spoken = spoken;
  window.__speaking = () => synth.speaking;
  window.__finish = () => { const u = current; current = null; synth.speaking = false; if (u && u.onend) { u.onend({}); } };
  Object.defineProperty(window, "speechSynthesis", { value: synth, configurable: true });
  window.SpeechSynthesisUtterance = function (text) { this.text = text; this.rate = 1; this.lang = ""; this.voice = null; };
  setTimeout(() => {
    window.__voicesReady = true;
    listeners.forEach((fn) => fn(new Event("voiceschanged")));
    if (synth.onvoiceschanged) { synth.onvoiceschanged(new Event("voiceschanged")); }
  }, 300);
})();
"""

ZH_VOICES = [{"name": "English", "lang": "en-US", "localService": True, "default": True},
             {"name": "普通话（中国大陆）", "lang": "zh-CN", "localService": True, "default": False}]
NO_ZH_VOICES = [{"name": "English", "lang": "en-US", "localService": True, "default": True},
                {"name": "Français", "lang": "fr-FR", "localService": True, "default": False}]


def _login(page, live_server, member):
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")


def _leave(page, live_server, caplog):
    """Off the reading page, once the server has answered its last heartbeat (sent on
    pagehide, unseen by Playwright, logged by werkzeug after the response): a request still
    running when the test ends would meet the next test's database."""
    def beats():
        return sum("/heartbeat" in r.getMessage() for r in caplog.records)
    before = beats()
    page.goto(f"{live_server}/")
    deadline = time.monotonic() + 15
    while beats() == before:
        assert time.monotonic() < deadline, "the reading page's last heartbeat never arrived"
        time.sleep(0.05)


def _spoken(page):
    return page.evaluate("window.__spoken")


def test_document_read_aloud_from_the_article_in_the_address(live_server, phone_page, make, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    member = make.user(name="王秀英")
    doc = make.document(title="村务公开条例", body=BODY)
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.add_init_script(FAKE_SPEECH % json.dumps(ZH_VOICES))
    _login(page, live_server, member)

    page.goto(f"{live_server}/library/doc/{doc.id}#第九条")
    start = page.get_by_role("button", name="朗读")
    start.wait_for(state="visible")  # after voiceschanged brought a Chinese voice

    start.click()
    first = _spoken(page)
    assert len(first) == 1
    assert first[0]["text"].startswith("第九条 本条规定村务管理的第九项要求")
    assert first[0]["lang"] == "zh-CN" and first[0]["voice"] == "普通话（中国大陆）" and first[0]["rate"] == 1
    assert page.locator("[id='第九条']").get_attribute("class").split().count("reading-now") == 1
    assert "第九条" in page.locator("#read-aloud-status").inner_text()
    # the article's start comes out from under the bar that grew
    bar = page.locator("#read-aloud").bounding_box()
    assert page.locator("[id='第九条']").bounding_box()["y"] >= bar["y"] + bar["height"]

    # When an utterance ends the next article follows; the paragraph after 第十条 is read as
    # part of that article (sentence by sentence), while 第十条 stays marked.
    page.evaluate("window.__finish()")
    assert _spoken(page)[-1]["text"].startswith("第十条 本条规定村务管理的第十项要求")
    page.evaluate("window.__finish()")
    assert _spoken(page)[-1]["text"] == "前款所称村务，包括集体财务。"
    assert "reading-now" in page.locator("[id='第十条']").get_attribute("class")
    assert "reading-now" not in page.locator("[id='第九条']").get_attribute("class")

    # Pause: speech is cancelled and nothing moves on; 继续 says the same sentence again.
    count = len(_spoken(page))
    current = _spoken(page)[-1]["text"]
    page.get_by_role("button", name="暂停").click()
    assert page.evaluate("window.__speaking()") is False
    page.wait_for_timeout(100)  # the cancelled utterance's late "interrupted" event changes nothing
    assert len(_spoken(page)) == count
    assert page.locator("#read-aloud-status").inner_text() == "已暂停"
    page.get_by_role("button", name="继续").click()
    assert _spoken(page)[-1]["text"] == current and len(_spoken(page)) == count + 1

    # Slower: the sentence starts again at 0.75×, and later ones keep that speed (remembered).
    page.get_by_label("语速").select_option("0.75")
    assert _spoken(page)[-1] == {**_spoken(page)[-1], "text": current, "rate": 0.75}
    page.wait_for_timeout(100)
    page.evaluate("window.__finish()")
    assert _spoken(page)[-1]["rate"] == 0.75 and _spoken(page)[-1]["text"] != current

    page.get_by_role("button", name="停止").click()
    assert page.evaluate("window.__speaking()") is False
    assert page.get_by_role("button", name="朗读").is_visible()
    assert page.locator(".reading-now").count() == 0

    # Started again without an address, it reads the article in view.
    page.goto(f"{live_server}/library/doc/{doc.id}")
    page.get_by_role("button", name="朗读").wait_for(state="visible")
    assert page.get_by_label("语速").input_value() == "0.75"
    page.evaluate("document.getElementById('第16条').scrollIntoView()")
    page.get_by_role("button", name="朗读").click()
    assert _spoken(page)[-1]["text"].startswith("第16条 第16项附则")
    assert page.locator("#read-aloud").evaluate("el => getComputedStyle(el).position") == "sticky"
    assert not errors
    _leave(page, live_server, caplog)


def test_text_lesson_read_aloud_from_its_title(live_server, phone_page, make):
    member = make.user(name="赵德胜")
    course = make.course(title="党章导读")
    lesson = make.text_lesson(course, "第一讲 总纲", "## 总纲\n\n中国共产党是中国工人阶级的先锋队。\n\n- 坚持党的领导\n- 密切联系群众")
    page = phone_page
    android = [{"name": "粤语", "lang": "zh-HK", "localService": True, "default": False},
               {"name": "普通话", "lang": "cmn-Hans-CN", "localService": True, "default": False}]
    page.add_init_script(FAKE_SPEECH % json.dumps(android))
    _login(page, live_server, member)
    page.goto(f"{live_server}/courses/lessons/{lesson.id}")
    page.get_by_role("button", name="朗读").click()
    texts = [_spoken(page)[-1]["text"]]
    for _ in range(4):
        page.evaluate("window.__finish()")
        texts.append(_spoken(page)[-1]["text"])
    assert texts == ["第 1 课 第一讲 总纲", "总纲", "中国共产党是中国工人阶级的先锋队。", "坚持党的领导", "密切联系群众"]
    assert {u["voice"] for u in _spoken(page)} == {"普通话"}  # Mandarin, not the Cantonese voice
    page.evaluate("window.__finish()")
    assert page.locator("#read-aloud-status").inner_text() == "本课已读完"
    assert page.get_by_role("button", name="朗读").is_visible()


def test_hidden_without_a_chinese_voice(live_server, phone_page, make, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    member = make.user()
    doc = make.document(title="村务公开条例", body=BODY)
    page = phone_page
    page.add_init_script(FAKE_SPEECH % json.dumps(NO_ZH_VOICES))
    _login(page, live_server, member)
    page.goto(f"{live_server}/library/doc/{doc.id}")
    page.wait_for_function("() => window.__voicesReady === true")
    page.wait_for_timeout(1700)  # past the script's own late look at the voices
    assert page.locator("#read-aloud").is_hidden()
    assert page.get_by_role("button", name="朗读").count() == 0 or not page.get_by_role("button", name="朗读").is_visible()
    assert page.evaluate("window.__spoken.length") == 0
    _leave(page, live_server, caplog)
