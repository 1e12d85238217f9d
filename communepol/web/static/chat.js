// The web chat: messages go to /chat/<account>/messages, replies come back as server-sent
// events. Built for bad signal: a message that fails to send is retried with the same id (the
// server stores it once), and the event stream reconnects by itself from the last reply seen.
(function () {
  "use strict";
  var box = document.getElementById("chat");
  if (!box || !window.fetch || !window.EventSource) { return; }
  var account = box.getAttribute("data-account");
  var log = box.querySelector(".chat-log");
  var form = box.querySelector(".chat-form");
  var input = form.querySelector("textarea");
  var status = box.querySelector(".chat-status");
  var stream = null;

  function newId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function item(cls, text) {
    var li = document.createElement("li");
    li.className = cls;
    li.textContent = text; // never innerHTML: replies and messages are text, not markup
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function showReply(reply) {
    var li = item("bot", reply.text || "");
    (reply.buttons || []).forEach(function (row) {
      var wrap = document.createElement("div");
      wrap.className = "chat-buttons";
      row.forEach(function (button) {
        if (button.kind === "url") {
          var a = document.createElement("a");
          a.href = button.action; a.textContent = button.label; a.rel = "noopener";
          wrap.appendChild(a);
        } else if (button.kind === "action") {
          var b = document.createElement("button");
          b.type = "button"; b.textContent = button.label;
          b.addEventListener("click", function () { send({ action: button.action }, button.label); });
          wrap.appendChild(b);
        }
      });
      li.appendChild(wrap);
    });
  }

  function send(body, shown, attempt, li) {
    body.id = body.id || newId();
    li = li || item("me pending", shown);
    fetch("/chat/" + account + "/messages", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (response) {
      if (response.status >= 500) { throw new Error("retry"); }
      li.classList.remove("pending");
      status.textContent = response.ok ? "" : box.getAttribute("data-error") || "";
      listen();
    }).catch(function () {
      var next = Math.min(30000, 1000 * Math.pow(2, attempt || 0));
      setTimeout(function () { send(body, shown, (attempt || 0) + 1, li); }, next);
    });
  }

  function listen() {
    if (stream) { return; }
    stream = new EventSource("/chat/" + account + "/events");
    stream.onmessage = function (event) {
      try { showReply(JSON.parse(event.data)); } catch (e) { /* ignore a broken event */ }
    };
    stream.onerror = function () {
      if (stream.readyState === EventSource.CLOSED) { stream = null; setTimeout(listen, 3000); }
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    send({ text: text }, text);
  });

  // "/p/<slug>?follow=1" (the web follow link on posters) starts following this page: the
  // bot answers with the page's consent screen. Sent once: the parameter is then taken off
  // the address, so reloading or sharing the page does not ask again.
  function followRequested() {
    var pageId = box.getAttribute("data-page-id") || "";
    if (!/^[1-9][0-9]{0,9}$/.test(pageId)) { return null; }
    var query = window.location.search.replace(/^\?/, "").split("&");
    if (query.indexOf("follow=1") === -1) { return null; }
    if (window.history && window.history.replaceState) {
      var rest = query.filter(function (part) { return part && part !== "follow=1"; }).join("&");
      window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
    }
    return pageId;
  }

  function startQuietly(text) {
    send({ text: text }, "");
    log.lastChild && log.removeChild(log.lastChild); // the visitor did not type it
  }

  var followPage = followRequested();
  var firstVisit = document.cookie.indexOf("cp_chat_started=1") === -1;
  if (firstVisit) {
    document.cookie = "cp_chat_started=1; path=/; max-age=15552000; samesite=lax";
  }
  if (followPage) {
    startQuietly("/start p" + followPage);
    box.scrollIntoView && box.scrollIntoView();
  } else if (firstVisit) {
    startQuietly("/start " + box.getAttribute("data-page"));
  } else {
    listen();
  }
}());
