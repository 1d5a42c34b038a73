// Keyboard review for the queue and the artifact view: j/k move, a accept, r reject,
// c correct (label search), s skip, o open the artifact.  Decisions go to POST /api/reviews
// with the page's CSRF token; the server's message is shown whatever happens.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var status = document.getElementById("status");
  var items = Array.prototype.slice.call(document.querySelectorAll("li.item"));
  var current = -1;

  function say(text, kind) {
    status.textContent = text;
    status.className = kind || "";
  }

  function select(i) {
    if (!items.length) return;
    i = Math.max(0, Math.min(items.length - 1, i));
    if (current >= 0 && items[current]) items[current].classList.remove("current");
    current = i;
    items[i].classList.add("current");
    items[i].focus({preventScroll: true});
    items[i].scrollIntoView({block: "nearest"});
  }

  function nextOpen(from) {
    for (var i = from + 1; i < items.length; i++) if (!items[i].classList.contains("done")) return i;
    return Math.min(from + 1, items.length - 1);
  }

  function markDone(item, outcome) {
    item.classList.add("done");
    var state = item.querySelector(".state");
    var text = outcome.decision + (outcome.decision === "corrected" && outcome.label ? " → " + outcome.label : "") +
      " by " + outcome.reviewer;
    state.innerHTML = "";
    var span = document.createElement("span");
    span.className = "decision " + outcome.decision;
    span.textContent = text;
    state.appendChild(span);
  }

  function decide(item, decision, value, label) {
    if (!item || item.classList.contains("done") || item.dataset.busy) return;
    item.dataset.busy = "1";
    say("saving…");
    fetch("/api/reviews", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({statement: item.dataset.statement, decision: decision, value: value || null})
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (r) {
      delete item.dataset.busy;
      if (!r.ok) { say(r.body.error || "refused", "error"); return; }
      r.body.label = label;
      markDone(item, r.body);
      say(decision + ": " + (item.querySelector(".value") || {}).textContent, "ok");
      select(nextOpen(items.indexOf(item)));
    }).catch(function () {
      delete item.dataset.busy;
      say("the server did not answer; nothing was recorded", "error");
    });
  }

  function openCorrection(item) {
    if (!item || item.classList.contains("done")) return;
    var box = item.querySelector(".correction");
    if (!box) return;
    box.hidden = false;
    var input = box.querySelector(".search");
    input.focus();
  }

  function search(item, input) {
    var list = item.querySelector(".results");
    var q = input.value.trim();
    if (q.length < 2) { list.innerHTML = ""; return; }
    var url = "/api/concepts?task=" + encodeURIComponent(item.dataset.task) + "&q=" + encodeURIComponent(q);
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (body) {
      if (input.value.trim() !== q) return;  // a newer search is under way
      list.innerHTML = "";
      (body.concepts || []).forEach(function (c, n) {
        if (c.concept === item.dataset.value) return;
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button";
        b.className = "choice";
        b.textContent = c.label + (c.lang ? " (" + c.lang + ")" : "") + " · " + c.group_label;
        b.title = c.concept;
        b.addEventListener("click", function () { decide(item, "corrected", c.concept, c.label); });
        li.appendChild(b);
        list.appendChild(li);
      });
      if (!list.children.length) list.innerHTML = "<li class=\"hint\">no value of this task matches</li>";
    });
  }

  items.forEach(function (item, i) {
    item.addEventListener("click", function (e) { if (e.target.tagName !== "A") select(i); });
    var input = item.querySelector(".search");
    var timer = null;
    if (input) {
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { search(item, input); }, 150);
      });
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") {
          var first = item.querySelector(".results button.choice");
          if (first) first.click();
          e.preventDefault();
        } else if (e.key === "Escape") {
          item.querySelector(".correction").hidden = true;
          select(i);
        }
      });
    }
    var correct = item.querySelector("button.correct");
    if (correct) correct.addEventListener("click", function () { select(i); openCorrection(item); });
    // With the script, the accept/reject buttons decide in place (without it they post the form).
    var form = item.querySelector("form.act");
    if (form) form.addEventListener("submit", function (e) {
      e.preventDefault();
      var decision = (e.submitter && e.submitter.value) || "accepted";
      decide(item, decision);
    });
  });

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || e.ctrlKey || e.metaKey || e.altKey) return;
    var item = items[current];
    switch (e.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "s": select(nextOpen(current)); break;
      case "a": decide(item, "accepted"); break;
      case "r": decide(item, "rejected"); break;
      case "c": openCorrection(item); e.preventDefault(); break;
      case "o":
        var link = item && item.querySelector("a.artifact");
        if (link) window.location.href = link.href;
        break;
      default: return;
    }
  });

  if (items.length) select(nextOpen(-1));
})();
