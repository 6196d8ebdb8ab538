// The agent console: presence buttons, the live stream (/console/events), the screen-pop, answer, transfer and
// wrap-up. Every action is a JSON POST to /api/console/... with the page's CSRF token.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) { return; }
  var csrf = root.getAttribute("data-csrf") || "";
  var texts = document.getElementById("console-texts");
  var message = document.getElementById("console-message");
  var form = document.getElementById("wrap-up");
  var timer = document.getElementById("wrap-timer");
  var wrapStarted = null;

  function text(name) { return texts ? (texts.getAttribute("data-" + name) || "") : ""; }
  function say(value) { if (message) { message.textContent = value; } }
  function currentCall() {
    var pop = document.getElementById("screen-pop");
    return pop ? (pop.getAttribute("data-call-id") || "") : "";
  }
  function currentKommune() {
    var pop = document.getElementById("screen-pop");
    return pop ? (pop.getAttribute("data-kommune") || "") : "";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": csrf, "accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = (data && data.detail) ? data.detail : String(response.status);
          throw new Error(detail);
        }
        return data;
      });
    });
  }

  function showPresence(state) {
    var element = document.getElementById("presence-state");
    if (!element) { return; }
    element.setAttribute("data-state", state);
    element.textContent = text("state-" + state) || state;
    root.setAttribute("data-presence", state);
    if (state === "wrap_up" && wrapStarted === null) { wrapStarted = Date.now(); }
    if (state !== "wrap_up" && state !== "on_call") { wrapStarted = null; }
  }

  function tickTimer() {
    if (!timer) { return; }
    if (wrapStarted === null) { timer.textContent = "0:00"; return; }
    var seconds = Math.floor((Date.now() - wrapStarted) / 1000);
    var rest = seconds % 60;
    timer.textContent = Math.floor(seconds / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }
  setInterval(tickTimer, 1000);

  function updateReplyLink() {
    var link = document.getElementById("write-reply");
    var code = currentKommune();
    var call = currentCall();
    if (!link) { return; }
    if (!code || !call) {
      link.setAttribute("href", "#");
      link.setAttribute("aria-disabled", "true");
      return;
    }
    var topic = document.getElementById("topic").value || "";
    link.setAttribute("href", "/letters/" + encodeURIComponent(code) + "/compose?topic=" +
      encodeURIComponent(topic) + "&call=" + encodeURIComponent(call));
    link.removeAttribute("aria-disabled");
  }

  function replacePop(html) {
    var old = document.getElementById("screen-pop");
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.firstElementChild;
    if (!old || !fresh) { return; }
    old.replaceWith(fresh);
    if (window.htmx) { window.htmx.process(fresh); }
    updateReplyLink();
  }

  function clearPop() {
    var old = document.getElementById("screen-pop");
    if (!old) { return; }
    var empty = document.createElement("div");
    empty.id = "screen-pop";
    empty.className = "screen-pop";
    empty.setAttribute("aria-live", "polite");
    empty.setAttribute("data-call-id", "");
    var note = document.createElement("p");
    note.className = "muted";
    note.textContent = text("no-call");
    empty.appendChild(note);
    old.replaceWith(empty);
    updateReplyLink();
  }

  root.addEventListener("click", function (event) {
    var target = event.target.closest("button");
    if (!target || !root.contains(target)) { return; }
    var state = target.getAttribute("data-presence");
    if (state) {
      post("/api/console/presence", { state: state }).then(function (data) {
        showPresence(data.state);
        say("");
      }).catch(function (error) { say(error.message); });
      return;
    }
    if (target.getAttribute("data-action") === "answer") {
      post("/api/console/calls/" + encodeURIComponent(currentCall()) + "/answer").then(function () {
        showPresence("on_call");
        target.disabled = true;
      }).catch(function (error) { say(error.message); });
      return;
    }
    var number = target.getAttribute("data-transfer");
    if (number) {
      post("/api/console/calls/" + encodeURIComponent(currentCall()) + "/transfer", { to_number: number })
        .then(function () { say(text("transferred") + " " + number); })
        .catch(function (error) { say(error.message); });
    }
  });

  var outcome = document.getElementById("outcome");
  var handoff = document.getElementById("handoff-fields");
  function toggleHandoff() { if (handoff && outcome) { handoff.hidden = outcome.value !== "handed_off"; } }
  if (outcome) { outcome.addEventListener("change", toggleHandoff); toggleHandoff(); }
  var topicSelect = document.getElementById("topic");
  if (topicSelect) { topicSelect.addEventListener("change", updateReplyLink); }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var call = currentCall();
      if (!call) { say(text("no-call")); return; }
      var body = {
        outcome: outcome.value,
        topic: document.getElementById("topic").value,
        notes: document.getElementById("notes").value,
        handoff: null
      };
      if (outcome.value === "handed_off") {
        body.handoff = {
          description: document.getElementById("handoff-description").value,
          citizen_email: document.getElementById("handoff-email").value
        };
      }
      post("/api/console/calls/" + encodeURIComponent(call) + "/wrap-up", body).then(function (data) {
        say(data.notes_masked ? text("masked") + " " + text("saved") : text("saved"));
        form.reset();
        toggleHandoff();
        clearPop();
        showPresence("available");
      }).catch(function (error) { say(text("error") + ": " + error.message); });
    });
  }

  function connect() {
    var source = new EventSource("/console/events");
    var lost = document.getElementById("connection-lost");
    source.addEventListener("open", function () { if (lost) { lost.hidden = true; } });
    source.addEventListener("error", function () { if (lost) { lost.hidden = false; } });
    source.addEventListener("screen-pop", function (event) { replacePop(event.data); });
    source.addEventListener("call-cancelled", function (event) {
      if (currentCall() === event.data) { clearPop(); }
    });
    source.addEventListener("presence", function (event) { showPresence(event.data); });
    source.addEventListener("queue", function (event) {
      var figures = JSON.parse(event.data);
      var waiting = root.querySelector("[data-queue=waiting]");
      var longest = root.querySelector("[data-queue=longest]");
      if (waiting) { waiting.textContent = String(figures.waiting); }
      if (longest) { longest.textContent = String(figures.longest_wait_seconds); }
    });
    source.addEventListener("surge", function (event) {
      var old = document.getElementById("surge");
      var holder = document.createElement("div");
      holder.innerHTML = event.data;
      if (old && holder.firstElementChild) { old.replaceWith(holder.firstElementChild); }
    });
  }
  connect();
})();
