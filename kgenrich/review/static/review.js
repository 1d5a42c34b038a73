// Keyboard review for the queue and the artifact view: j/k move, a accept, r reject,
// c correct (label search), u undo, s skip, o open the artifact.  Decisions go to POST
// /api/reviews with the page's CSRF token; the server's words are shown whatever happens.
// Rows decided elsewhere (another reviewer, another tab, a page restored by Back) are marked
// as such when the page is shown, and the counts are refreshed.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var status = document.getElementById("status");
  var statusText = document.getElementById("status-text") || status;
  var summary = document.getElementById("summary");
  var items = Array.prototype.slice.call(document.querySelectorAll("li.item"));
  var current = -1;

  function say(text, kind) {
    statusText.textContent = text;
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

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, status: response.status, body: data}; },
                                  function () { return {ok: false, status: response.status, body: {}}; });
    });
  }

  // A row decided (here or elsewhere): its words, and an undo button when this user may undo it.
  function markDecided(item, words, review, decision, mayUndo) {
    item.classList.add("done");
    if (review) item.dataset.review = review;
    var state = item.querySelector(".state");
    state.textContent = "";
    var span = document.createElement("span");
    span.className = "decision " + (decision || "");
    span.textContent = words;
    state.appendChild(span);
    if (mayUndo && review) {
      item.dataset.mayRevise = "1";
      var b = document.createElement("button");
      b.type = "button";
      b.className = "undo";
      b.textContent = "undo";
      b.title = "take the decision back (u)";
      b.addEventListener("click", function () { undo(item); });
      state.appendChild(b);
    }
  }

  function refreshCount(total) {
    var count = document.getElementById("summary-count");
    if (!count || total === undefined) return;
    var st = summary.dataset.status;
    count.textContent = total.toLocaleString("en") + " prediction" + (total === 1 ? "" : "s") + " " +
      (st === "all" ? "" : st);
  }

  // What the page shows may be stale: ask the server for the rows' current decisions and the count.
  function refresh() {
    if (!summary || !items.length) return;
    var open = items.filter(function (it) { return !it.classList.contains("done"); });
    // A few rows per request (URLs stay short), the first request also brings the count.
    for (var start = 0; start === 0 || start < open.length; start += 40) {
      var params = (summary.dataset.query ? summary.dataset.query + "&" : "") +
        open.slice(start, start + 40).map(function (it) {
          return "statement=" + encodeURIComponent(it.dataset.statement);
        }).join("&");
      fetch("/api/state?" + params, {credentials: "same-origin"}).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (data) {
        if (!data) return;
        open.forEach(function (item) {
          var s = data.states[item.dataset.statement];
          if (s && s.decision && s.decision !== "undone" && !item.classList.contains("done")) {
            markDecided(item, s.words, s.review, s.decision, false);
          }
        });
        refreshCount(data.total);
      }).catch(function () {});
    }
  }

  function decide(item, decision, value, revises) {
    if (!item || item.dataset.busy) return;
    if (item.classList.contains("done") && decision !== "undone") return;
    item.dataset.busy = "1";
    say("saving…", "busy");
    post("/api/reviews", {statement: item.dataset.statement, decision: decision, value: value || null,
                          revises: revises || null}).then(function (r) {
      delete item.dataset.busy;
      if (r.status === 409 && r.body.current) {
        // Someone decided first: say who and when, in words, and show the row as decided.
        markDecided(item, r.body.current.words, r.body.current.review, r.body.current.decision, false);
        say(r.body.error, "error");
        refresh();
        return;
      }
      if (!r.ok) { say(r.body.error || "refused (HTTP " + r.status + ")", "error"); return; }
      if (decision === "undone") {
        sessionStorage.setItem("kgenrich-flash", r.body.confirmation);
        window.location.reload();
        return;
      }
      var b = r.body;
      var words = b.decision + (b.decision === "corrected" ? " to " + b.value_label :
        (b.value_label && b.value !== b.proposed ? " as " + b.value_label : "")) + " by " + b.reviewer + " just now";
      markDecided(item, words, b.review, b.decision, true);
      say(b.confirmation, "ok");
      refresh();
      select(nextOpen(items.indexOf(item)));
    }).catch(function () {
      delete item.dataset.busy;
      say("the server did not answer; nothing was recorded", "error");
    });
  }

  function undo(item) {
    if (!item || !item.classList.contains("done") || !item.dataset.mayRevise || !item.dataset.review) return;
    decide(item, "undone", null, item.dataset.review);
  }

  function accept(item) {
    if (!item || item.classList.contains("done")) return;
    var member = item.querySelector("select[name=value]");
    if (item.dataset.standIn && member && document.activeElement !== member) {
      member.focus();
      say("'" + item.dataset.label + "' stands for several values: choose the one you accept, then press a again", "busy");
      return;
    }
    decide(item, "accepted", member ? member.value : null);
  }

  function openCorrection(item) {
    if (!item || item.classList.contains("done")) return;
    var box = item.querySelector(".correction");
    if (!box) return;
    box.hidden = false;
    box.querySelector(".search").focus();
  }

  // The label search.  Enter takes the first result only when the results on screen are those
  // of the text as typed; otherwise it waits for them (and says so).
  function setUpSearch(item, i) {
    var input = item.querySelector(".search");
    if (!input) return;
    var list = item.querySelector(".results");
    var note = item.querySelector(".search-state");
    var shown = null;      // the text whose results the list shows
    var waiting = false;   // Enter was pressed before the results of the text arrived
    var timer = null;

    function choose(c) {
      // A value of the predicted group names what the prediction meant: an acceptance; any other value corrects it.
      var sameGroup = c.group && c.group === item.dataset.group;
      decide(item, sameGroup ? "accepted" : "corrected", c.concept);
    }

    function render(q, concepts) {
      list.textContent = "";
      concepts.forEach(function (c) {
        if (c.concept === item.dataset.value) return;
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button";
        b.className = "choice";
        b.textContent = c.label + (c.lang ? " (" + c.lang + ")" : "") + " · " + c.group_label;
        b.title = c.concept;
        b.addEventListener("click", function () { choose(c); });
        b._concept = c;
        li.appendChild(b);
        list.appendChild(li);
      });
      if (!list.children.length) {
        var none = document.createElement("li");
        none.className = "hint";
        none.textContent = "no value of this task matches '" + q + "'";
        list.appendChild(none);
      }
      shown = q;
      list.classList.remove("stale");
      note.textContent = "";
    }

    function search(q) {
      var url = "/api/concepts?task=" + encodeURIComponent(item.dataset.task) + "&q=" + encodeURIComponent(q);
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (body) {
        if (input.value.trim() !== q) return;  // a newer search is under way
        render(q, body.concepts || []);
        if (waiting) {
          waiting = false;
          var first = list.querySelector("button.choice");
          if (first) choose(first._concept);
          else note.textContent = "nothing to choose: no value matches '" + q + "'";
        }
      }).catch(function () { note.textContent = "the search did not answer"; });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      // The list on screen belongs to another text now: not choosable until the new results arrive.
      list.classList.add("stale");
      Array.prototype.forEach.call(list.querySelectorAll("button.choice"), function (b) { b.disabled = true; });
      shown = null;
      if (q.length < 2) { list.textContent = ""; note.textContent = ""; waiting = false; return; }
      note.textContent = "searching '" + q + "'…";
      timer = setTimeout(function () { timer = null; search(q); }, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        e.preventDefault();
        var q = input.value.trim();
        if (q.length < 2) { note.textContent = "type at least two letters"; return; }
        var first = list.querySelector("button.choice");
        if (shown === q && first) { choose(first._concept); return; }
        if (shown === q) { note.textContent = "nothing to choose: no value matches '" + q + "'"; return; }
        waiting = true;
        note.textContent = "waiting for the results for '" + q + "'… (Enter takes the first of them)";
        if (timer) { clearTimeout(timer); timer = null; search(q); }
      } else if (e.key === "Escape") {
        item.querySelector(".correction").hidden = true;
        waiting = false;
        select(i);
      }
    });
  }

  items.forEach(function (item, i) {
    item.addEventListener("click", function (e) {
      var tag = e.target.tagName;
      if (tag !== "A" && tag !== "SELECT" && tag !== "OPTION") select(i);
    });
    setUpSearch(item, i);
    var correct = item.querySelector("button.correct");
    if (correct) correct.addEventListener("click", function () { select(i); openCorrection(item); });
    // With the script, the buttons decide in place (without it they post the form).
    var form = item.querySelector("form.act");
    if (form) form.addEventListener("submit", function (e) {
      e.preventDefault();
      var decision = (e.submitter && e.submitter.value) || "accepted";
      if (decision === "accepted") {
        var member = item.querySelector("select[name=value]");
        decide(item, "accepted", member ? member.value : null);
      } else {
        decide(item, decision);
      }
    });
    var undoForm = item.querySelector("form.undo");
    if (undoForm) undoForm.addEventListener("submit", function (e) { e.preventDefault(); undo(item); });
  });

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (tag === "select" && e.key !== "a") return;
    var item = items[current];
    switch (e.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "s": select(nextOpen(current)); break;
      case "a": accept(item); e.preventDefault(); break;
      case "r": decide(item, "rejected"); break;
      case "u": undo(item); break;
      case "c": openCorrection(item); e.preventDefault(); break;
      case "o":
        var link = item && item.querySelector("a.artifact");
        if (link) window.location.href = link.href;
        break;
      default: return;
    }
  });

  // Enlarged photographs.
  var dialog = document.getElementById("enlarged");
  Array.prototype.forEach.call(document.querySelectorAll("button.thumb"), function (b) {
    b.addEventListener("click", function (e) {
      e.stopPropagation();
      if (!dialog || !dialog.showModal) { window.open(b.dataset.large); return; }
      dialog.querySelector("img").src = b.dataset.large;
      dialog.showModal();
    });
  });
  if (dialog) dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); });

  // The 'predicted' filter lists the chosen task's values only.
  var taskFilter = document.getElementById("task-filter");
  var valueFilter = document.getElementById("value-filter");
  function followTask() {
    if (!taskFilter || !valueFilter) return;
    Array.prototype.forEach.call(valueFilter.querySelectorAll("optgroup"), function (g) {
      var hide = taskFilter.value && g.dataset.task !== taskFilter.value;
      g.hidden = hide;
      g.disabled = hide;
    });
    var chosen = valueFilter.selectedOptions[0];
    if (chosen && chosen.parentElement.disabled) valueFilter.value = "";
  }
  if (taskFilter) taskFilter.addEventListener("change", followTask);
  followTask();

  var flash = sessionStorage.getItem("kgenrich-flash");
  if (flash) { sessionStorage.removeItem("kgenrich-flash"); say(flash, "ok"); }
  if (items.length) select(nextOpen(-1));
  refresh();
  window.addEventListener("pageshow", function (e) { if (e.persisted) refresh(); });
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") refresh(); });
})();
