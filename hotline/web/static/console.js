// The agent console: presence buttons, the live stream (/console/events), the screen-pop, answer, transfer and
// wrap-up. Every action is a JSON POST to /api/console/... with the page's CSRF token.
// The wrap-up form is enabled only while a call is in hand (on a call or in wrap-up); once a call is answered
// (here, on the telephone, or before a reconnect) the pop shows when it was answered instead of the answer button.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) { return; }
  var csrf = root.getAttribute("data-csrf") || "";
  var texts = document.getElementById("console-texts");
  var message = document.getElementById("console-message");
  var form = document.getElementById("wrap-up");
  var timer = document.getElementById("wrap-timer");
  var fields = document.getElementById("wrap-up-fields");
  var inactive = document.getElementById("wrap-up-inactive");
  var wrapStarted = null;
  var callStarted = null;
  var presence = root.getAttribute("data-presence") || "offline";

  function text(name) { return texts ? (texts.getAttribute("data-" + name) || "") : ""; }
  var pageTitle = document.title;
  function say(value) { if (message) { message.textContent = value; } }
  function currentCall() {
    var pop = document.getElementById("screen-pop");
    return pop ? (pop.getAttribute("data-call-id") || "") : "";
  }
  function inHand() { return presence === "on_call" || presence === "wrap_up"; }
  function pad(value) { return (value < 10 ? "0" : "") + value; }
  function minutesSeconds(seconds) { return Math.floor(seconds / 60) + ":" + pad(seconds % 60); }
  function clockNow() {
    try {
      return new Intl.DateTimeFormat("en-GB", {
        hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Europe/Copenhagen"
      }).format(new Date());
    } catch (error) {
      var now = new Date();
      return pad(now.getHours()) + ":" + pad(now.getMinutes());
    }
  }

  // The form can only finish a call the agent has in hand; otherwise it is disabled and says why.
  function updateForm() {
    var active = Boolean(currentCall()) && inHand();
    if (fields) {
      fields.disabled = !active;
      if (active) { fields.removeAttribute("aria-describedby"); }
      else { fields.setAttribute("aria-describedby", "wrap-up-inactive"); }
    }
    if (inactive) { inactive.hidden = active; }
  }

  // The pop's answer button gives way to "Answered at HH:MM" and the call time (elapsed: seconds so far).
  function markAnswered(elapsed) {
    var pop = document.getElementById("screen-pop");
    var state = pop ? pop.querySelector(".pop-call-state") : null;
    if (!state || state.getAttribute("data-answered") === "true") { return null; }
    var note = document.createElement("p");
    note.className = "pop-answered";
    note.tabIndex = -1;
    note.appendChild(document.createTextNode(text("answered").replace("{time}", clockNow()) + " "));
    var time = document.createElement("span");
    time.className = "pop-call-time";
    var value = document.createElement("span");
    value.className = "pop-timer";
    value.setAttribute("role", "timer");
    value.textContent = minutesSeconds(elapsed || 0);
    time.appendChild(document.createTextNode("· " + text("call-time") + " "));
    time.appendChild(value);
    note.appendChild(time);
    state.replaceChildren(note);
    state.setAttribute("data-answered", "true");
    callStarted = Date.now() - (elapsed || 0) * 1000;
    tickTimer();
    return note;
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
    presence = state;
    if (state === "wrap_up" && wrapStarted === null) { wrapStarted = Date.now(); }
    if (state !== "wrap_up" && state !== "on_call") { wrapStarted = null; }
    if (inHand() && currentCall()) { markAnswered(0); }  // e.g. answered on the telephone itself
    updateForm();
    tickTimer();
    updateRinging();
  }

  // A ringing call shows in the tab's title (the agent may be in another tab or window), and the answer button
  // takes the keyboard unless the agent is typing somewhere: then Enter answers.
  function updateRinging() {
    var ringing = presence === "ringing" && Boolean(currentCall());
    document.title = ringing ? text("ringing-title") + " · " + pageTitle : pageTitle;
    if (!ringing) { return; }
    var button = document.querySelector("#screen-pop [data-action=answer]");
    var active = document.activeElement;
    var typing = active && active !== document.body && active.matches("input, textarea, select, [contenteditable]");
    if (button && !button.disabled && !typing) { button.focus(); }
  }

  function tickTimer() {
    // The call time counts while talking; in wrap-up the call is over and only the wrap-up time counts.
    var callTime = document.querySelector("#screen-pop .pop-call-time");
    if (callTime) {
      callTime.hidden = presence !== "on_call";
      var value = callTime.querySelector(".pop-timer");
      if (value && callStarted !== null && presence === "on_call") {
        value.textContent = minutesSeconds(Math.max(0, Math.floor((Date.now() - callStarted) / 1000)));
      }
    }
    if (!timer) { return; }
    if (wrapStarted === null) { timer.textContent = "0:00"; return; }
    timer.textContent = minutesSeconds(Math.floor((Date.now() - wrapStarted) / 1000));
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

  // inHandAlready: the pop is the call the server says is in hand (sent right after the presence on a (re)connect).
  function replacePop(html, inHandAlready) {
    var old = document.getElementById("screen-pop");
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.firstElementChild;
    if (!old || !fresh) { return; }
    old.replaceWith(fresh);
    if (window.htmx) { window.htmx.process(fresh); }
    var answered = fresh.querySelector(".pop-call-time[data-elapsed]");
    callStarted = answered ? Date.now() - Number(answered.getAttribute("data-elapsed") || "0") * 1000 : null;
    if (inHandAlready && inHand()) { markAnswered(0); }  // never offer to answer a call in hand again
    updateReplyLink();
    updateForm();
    tickTimer();
    updateRinging();
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
    callStarted = null;
    updateReplyLink();
    updateForm();
    updateRinging();
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
      target.disabled = true;  // one answer per click
      post("/api/console/calls/" + encodeURIComponent(currentCall()) + "/answer").then(function () {
        markAnswered(0);
        showPresence("on_call");
        // The button is gone (here or by the live presence update): keep the keyboard where it was.
        var answered = document.querySelector("#screen-pop .pop-answered");
        if (answered && !document.body.contains(target)) { answered.focus(); }
      }).catch(function (error) { target.disabled = false; say(error.message); });
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
        // The next call may already have popped (it is assigned by this very request); then the live events
        // have said where the agent is, and the new pop stays.
        if (currentCall() === call) {
          clearPop();
          showPresence("available");
        }
        if (message) { message.tabIndex = -1; message.focus(); }  // the save button is disabled now
      }).catch(function (error) { say(text("error") + ": " + error.message); });
    });
  }

  // The queue in words and as two bars on one scale: calls waiting against agents available.
  function showQueue(figures) {
    var values = {
      waiting: Number(figures.waiting) || 0,
      longest: Number(figures.longest_wait_seconds) || 0,
      available: Number(figures.available) || 0
    };
    Object.keys(values).forEach(function (name) {
      var element = root.querySelector("[data-queue=" + name + "]");
      if (element) { element.textContent = String(values[name]); }
    });
    var picture = document.getElementById("queue-picture");
    if (!picture) { return; }
    var x = Number(picture.getAttribute("data-bar-x")) || 0;
    var full = Number(picture.getAttribute("data-bar-width")) || 0;
    var top = Math.max(values.waiting, values.available, 1);
    ["waiting", "available"].forEach(function (name) {
      var width = full * values[name] / top;
      var bar = picture.querySelector("[data-queue-bar=" + name + "]");
      var label = picture.querySelector("[data-queue-value=" + name + "]");
      if (bar) { bar.setAttribute("width", width.toFixed(1)); }
      if (label) {
        label.textContent = String(values[name]);
        label.setAttribute("x", (x + width + 4).toFixed(1));
      }
    });
    picture.setAttribute("data-busy", values.waiting > values.available ? "true" : "false");
  }

  updateForm();

  function connect() {
    var source = new EventSource("/console/events");
    var lost = document.getElementById("connection-lost");
    // On every (re)connect the server sends the presence, then the call in hand or ringing (if any), then the
    // queue: a pop in that window while the presence is "on a call" or "wrap-up" is the call in hand.
    var connecting = false;
    source.addEventListener("open", function () { connecting = true; if (lost) { lost.hidden = true; } });
    source.addEventListener("error", function () { if (lost) { lost.hidden = false; } });
    source.addEventListener("screen-pop", function (event) {
      var inHandAlready = connecting;
      connecting = false;
      replacePop(event.data, inHandAlready);
    });
    source.addEventListener("call-cancelled", function (event) {
      if (currentCall() === event.data) { clearPop(); }
    });
    source.addEventListener("presence", function (event) { showPresence(event.data); });
    source.addEventListener("queue", function (event) {
      connecting = false;
      showQueue(JSON.parse(event.data));
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
