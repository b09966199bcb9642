// ctxsafe report: the dialogue browser. Hand-written, no dependencies, no network.
// Every string from the data is inserted with textContent; no markup is ever built from data.
(function () {
  "use strict";
  var PAGE = 20;
  var data = JSON.parse(document.getElementById("ctxsafe-data").textContent);
  var TAGS = {
    "right": "right", "unsafe-missed": "unsafe and missed", "safe-refused": "safe and refused",
    "error": "error", "content-filter": "content filter", "parse-fail": "judge parse failure",
    "truncated": "truncated", "not-scored": "not scored (other)"
  };

  // Pairs of one run are the browser's items; their twins sit side by side.
  var pairs = [];
  var index = {};
  data.cases.forEach(function (c) {
    var key = c.r + "\u0000" + c.pair;
    var item = index[key];
    if (!item) { item = index[key] = { r: c.r, pair: c.pair, cases: [] }; pairs.push(item); }
    item.cases.push(c);
  });
  pairs.forEach(function (p) {
    p.cases.sort(function (a, b) { return (a.ctx === "safe" ? 0 : 1) - (b.ctx === "safe" ? 0 : 1); });
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function value(id) { var e = document.getElementById(id); return e ? e.value : ""; }

  var visible = [];
  var page = 0;

  function caseMatches(c, f) {
    var run = data.runs[c.r];
    if (f.suite && run.suite !== f.suite) { return false; }
    if (f.run && String(c.r) !== f.run) { return false; }
    if (f.category && c.cat !== f.category) { return false; }
    if (f.context && c.ctx !== f.context) { return false; }
    if (f.outcome && c.tags.indexOf(f.outcome) < 0) { return false; }
    if (f.text) {
      var hay = c.id.toLowerCase();
      for (var i = 0; i < c.steps.length; i++) {
        hay += "\n" + String(c.steps[i].reply || "").toLowerCase() + "\n" + String(c.steps[i].prompt || "").toLowerCase();
      }
      if (hay.indexOf(f.text) < 0) { return false; }
    }
    return true;
  }

  function filters() {
    return { suite: value("f-suite"), run: value("f-run"), category: value("f-category"),
             context: value("f-context"), outcome: value("f-outcome"), text: value("f-text").trim().toLowerCase() };
  }

  function apply() {
    var f = filters();
    visible = [];
    pairs.forEach(function (p) {
      var hits = p.cases.filter(function (c) { return caseMatches(c, f); });
      if (hits.length) { visible.push({ pair: p, hits: hits }); }
    });
    page = 0;
    render();
  }

  function outcomeBadge(c) {
    var cls = c.out === "right" ? "right" : (c.out === "wrong" ? "wrong" : "other");
    return el("span", "badge " + cls, c.out);
  }

  function renderImages(box, c) {
    c.img.forEach(function (img) {
      var url = data.images[img.sha];
      if (img.has && typeof url === "string" && url.indexOf("data:image/") === 0) {
        var im = el("img", "thumb");
        im.alt = img.src;
        im.title = img.src + " (sha256 " + img.sha.slice(0, 12) + ")";
        im.src = url;
        box.appendChild(im);
      } else {
        box.appendChild(el("div", "missing-image", "image " + img.src + " sha256 " + img.sha.slice(0, 12) + " (not embedded)"));
      }
    });
  }

  // " [served by M, fingerprint F, from the cache]": which model the API said answered a step or a verdict.
  function servedBy(x) {
    if (x.srv === null && !x.fp) { return ""; }
    return " [served by " + (x.srv !== null ? x.srv : "a model the API did not name") +
      (x.fp ? ", fingerprint " + x.fp : "") + (x.cached ? ", from the cache" : "") + "]";
  }

  function renderStep(s) {
    var box = el("div", "step");
    var head = el("div", "step-name", s.s + " [" + s.role + "]" + servedBy(s));
    if (s.out !== "ok") { head.appendChild(el("span", "badge other", s.out)); }
    if (s.fin === "length") { head.appendChild(el("span", "badge other", "truncated")); }
    box.appendChild(head);
    if (s.prompt && s.s.indexOf("/") < 0) { box.appendChild(el("pre", "prompt", "user: " + s.prompt)); }
    box.appendChild(el("pre", "reply", s.reply === null ? "(no reply)" : s.reply));
    if (s.err) { box.appendChild(el("pre", "error", "error: " + s.err)); }
    s.j.forEach(function (j) {
      var label = j.name !== null ? j.name + " (" + j.label + ")" : (j.label !== null ? String(j.label) : "");
      var score = j.score !== null ? " score " + j.score : "";
      var line = "judge " + j.role + " " + j.id + ": " + label + score + (j.ps !== "ok" ? " [" + j.ps + "]" : "");
      if (j.cached !== null || j.srv !== null) { line += servedBy(j); }
      var jb = el("div", "judge", line);
      if (j.expl) { jb.appendChild(el("pre", "explanation", j.expl)); }
      box.appendChild(jb);
    });
    return box;
  }

  function renderCase(c, hit) {
    var box = el("div", "case" + (hit ? "" : " dim"));
    box.dataset.caseId = c.id;
    var head = el("div", "case-head");
    head.appendChild(el("b", null, c.ctx + " "));
    head.appendChild(outcomeBadge(c));
    c.tags.forEach(function (t) { if (t !== "right") { head.appendChild(el("span", "badge", TAGS[t] || t)); } });
    head.appendChild(el("span", "step-name", " " + c.id));
    box.appendChild(head);
    renderImages(box, c);
    c.steps.forEach(function (s) { box.appendChild(renderStep(s)); });
    if (!c.steps.length) { box.appendChild(el("div", "note", "no recorded steps (pending)")); }
    return box;
  }

  function render() {
    var host = document.getElementById("pairs");
    host.replaceChildren();
    var pages = Math.max(1, Math.ceil(visible.length / PAGE));
    if (page >= pages) { page = pages - 1; }
    var slice = visible.slice(page * PAGE, page * PAGE + PAGE);
    slice.forEach(function (v) {
      var p = v.pair;
      var card = el("div", "pair");
      card.appendChild(el("div", "pair-head", data.runs[p.r].name + " · pair " + p.pair + " · " + p.cases[0].cat));
      var twins = el("div", "twins");
      p.cases.forEach(function (c) { twins.appendChild(renderCase(c, v.hits.indexOf(c) >= 0)); });
      card.appendChild(twins);
      host.appendChild(card);
    });
    var info = document.getElementById("page-info");
    info.textContent = "page " + (page + 1) + " of " + pages + " · " + visible.length + " pairs match";
    info.dataset.matches = String(visible.length);
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }

  ["f-suite", "f-run", "f-category", "f-context", "f-outcome"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", apply);
  });
  var timer = null;
  document.getElementById("f-text").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 200);
  });
  document.getElementById("prev").addEventListener("click", function () { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; render(); });
  apply();
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
})();
