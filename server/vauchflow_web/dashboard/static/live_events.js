// The live events page: new events from /events/live (server-sent events) go on top of the table as they arrive.
// Every value is set as text, never parsed as HTML. Closing the tab closes the stream (and the plan's stream slot).
"use strict";
(function () {
  const table = document.getElementById("events");
  const state = document.getElementById("live-state");
  if (!table || !window.EventSource) {
    return;
  }
  const body = table.tBodies[0];
  const after = table.dataset.after || "";
  const source = new EventSource("/events/live?after=" + encodeURIComponent(after));

  function cell(text, asCode) {
    const td = document.createElement("td");
    if (asCode) {
      const code = document.createElement("code");
      code.textContent = text;
      td.appendChild(code);
    } else {
      td.textContent = text;
    }
    return td;
  }

  source.addEventListener("open", function () {
    state.textContent = "Live: new events appear at the top as they happen.";
  });
  source.addEventListener("event", function (message) {
    const event = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.className = "fresh";
    row.appendChild(cell(event.time, false));
    row.appendChild(cell(event.type, true));
    const data = cell(event.data, true);
    data.className = "break";
    row.appendChild(data);
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > 200) {
      body.deleteRow(body.rows.length - 1);
    }
  });
  function stop(message) {
    state.textContent = JSON.parse(message.data).text;
    source.close();
  }
  source.addEventListener("full", stop);
  source.addEventListener("ended", stop);
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
