// fenta dashboard: times in the viewer's zone, copy buttons, live jobs over SSE, asset uploads.
// Plain script, no framework, no build step. The page works without it (live updates and uploads need it).
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // ------------------------------------------------------------------ times and ids

  const stamp = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.title = stamp.format(d) + " (" + t.getAttribute("datetime") + ")";
        t.textContent = (t.dataset.part === "time" ? clock : stamp).format(d);
      }
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const area = document.createElement("textarea"); // plain http to a LAN box: no Clipboard API there
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button.copy");
    if (!button) return;
    copyText(button.dataset.copy).then(
      () => { button.textContent = "Copied"; button.classList.add("copied"); },
      () => { button.textContent = "Select and copy"; },
    );
    setTimeout(() => { button.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
  });

  // ------------------------------------------------------------------ live jobs

  const STATE_OF = {
    "job.queued": "queued", "job.started": "running", "job.retrying": "failed", "job.failed": "failed",
    "job.completed": "completed", "job.dead": "dead", "job.cancelled": "cancelled",
  };

  function setStatus(badge, state) {
    if (!badge || !state) return;
    badge.textContent = state;
    badge.className = "badge s-" + state;
  }

  function setProgress(root, fraction) {
    const bar = root.querySelector("[data-progress]");
    const pct = root.querySelector("[data-pct]");
    const value = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    if (bar) bar.value = value;
    if (pct) pct.textContent = value + " %";
  }

  function apply(root, ev) {
    const data = ev.data || {};
    if (ev.type === "job.progress" && typeof data.progress === "number") setProgress(root, data.progress);
    if (ev.type === "job.completed") setProgress(root, 1);
    if (STATE_OF[ev.type]) setStatus(root.querySelector("[data-status]"), STATE_OF[ev.type]);
  }

  function followTable(table) {
    const rows = () => table.tBodies[0];
    const source = new EventSource(`/events?after=${table.dataset.after || 0}`);
    const handle = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch (_) { return; }
      if (!ev.jobId) return;
      const row = rows().querySelector(`tr[data-job-id="${CSS.escape(ev.jobId)}"]`);
      if (row) { apply(row, ev); return; }
      if (ev.type === "job.queued" && table.hasAttribute("data-add-new")) {
        fetch(`/jobs/${encodeURIComponent(ev.jobId)}/row`, { headers: { Accept: "text/html" } })
          .then((r) => (r.ok ? r.text() : ""))
          .then((html) => {
            if (!html || rows().querySelector(`tr[data-job-id="${CSS.escape(ev.jobId)}"]`)) return;
            const empty = rows().querySelector(".empty-row");
            if (empty) empty.remove();
            const holder = document.createElement("tbody");
            holder.innerHTML = html.trim();
            const fresh = holder.querySelector("tr");
            if (!fresh) return;
            fresh.classList.add("fresh");
            localize(fresh);
            rows().prepend(fresh);
          });
      }
    };
    Object.keys(STATE_OF).concat(["job.progress"]).forEach((t) => source.addEventListener(t, handle));
  }

  // A job's page: the progress bar and state move with each event; the other parts are fetched again
  // (debounced) and swapped in where they changed, so the page never reloads and a playing video is kept.
  function followJob(root) {
    const id = root.dataset.job;
    const served = new Map();
    root.querySelectorAll("[data-refresh]").forEach((n) => served.set(n.dataset.refresh, n.innerHTML));
    let timer = null;
    const refresh = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fetch(location.pathname, { headers: { Accept: "text/html" } })
          .then((r) => (r.ok ? r.text() : ""))
          .then((html) => {
            if (!html) return;
            const doc = new DOMParser().parseFromString(html, "text/html");
            doc.querySelectorAll("[data-refresh]").forEach((fresh) => {
              const key = fresh.dataset.refresh;
              const current = root.querySelector(`[data-refresh="${CSS.escape(key)}"]`);
              if (!current || served.get(key) === fresh.innerHTML) return;
              served.set(key, fresh.innerHTML);
              const node = document.importNode(fresh, true);
              current.replaceWith(node);
              localize(node);
            });
            const progress = doc.querySelector("[data-progress]");
            if (progress) setProgress(root, Number(progress.getAttribute("value")) / 100);
          });
      }, 250);
    };
    if (!root.hasAttribute("data-follow")) return;
    const source = new EventSource(`/jobs/${encodeURIComponent(id)}/events?after=${root.dataset.after || 0}`);
    const handle = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch (_) { return; }
      apply(root, ev);
      refresh();
    };
    ["job.progress", "node.started", "node.finished", "node.failed"].concat(Object.keys(STATE_OF))
      .forEach((t) => source.addEventListener(t, handle));
    source.addEventListener("end", () => { source.close(); root.removeAttribute("data-follow"); refresh(); });
  }

  // ------------------------------------------------------------------ uploads (init, PUT, complete)

  function upload(form) {
    const status = form.querySelector("[data-upload-status]");
    const bar = form.querySelector("[data-upload-progress]");
    const say = (text, bad) => {
      status.hidden = false;
      status.textContent = text;
      status.classList.toggle("error", !!bad);
    };
    const problem = (r) => r.json().then((p) => { throw new Error(p.detail || r.statusText); },
      () => { throw new Error(r.status + " " + r.statusText); });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const file = form.querySelector('input[type="file"]').files[0];
      if (!file) return say("Choose a file first.", true);
      if (file.size > Number(form.dataset.maxBytes)) return say(`${file.name} is larger than this box takes.`, true);
      const tags = form.querySelector('input[name="tags"]').value.split(/[\s,]+/).filter(Boolean);
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      say(`Uploading ${file.name}…`);
      const headers = { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() };
      fetch("/assets/uploads", { method: "POST", headers, body: JSON.stringify({ filename: file.name, size: file.size, tags }) })
        .then((r) => (r.ok ? r.json() : problem(r)))
        .then((made) => new Promise((resolve, reject) => {
          const xhr = new XMLHttpRequest(); // XHR: fetch has no upload progress
          xhr.open("PUT", made.upload_url);
          xhr.setRequestHeader("Content-Type", "application/octet-stream");
          bar.hidden = false;
          xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = Math.round((p.loaded / p.total) * 100); };
          xhr.onload = () => {
            if (xhr.status >= 200 && xhr.status < 300) return resolve(made);
            let detail = xhr.statusText;
            try { detail = JSON.parse(xhr.responseText).detail || detail; } catch (_) { /* not JSON */ }
            reject(new Error(detail));
          };
          xhr.onerror = () => reject(new Error("the connection broke during the upload"));
          xhr.send(file);
        }))
        .then((made) => {
          say("Making its thumbnail…");
          return fetch(`/assets/uploads/${encodeURIComponent(made.id)}/complete`, { method: "POST", headers });
        })
        .then((r) => (r.ok ? r.json() : problem(r)))
        .then((done) => {
          say(`Added ${done.asset.name}.`);
          location.assign("/assets?uploaded=" + encodeURIComponent(done.asset.id));
        })
        .catch((err) => { say("The upload failed: " + err.message, true); button.disabled = false; });
    });
  }

  // ------------------------------------------------------------------ start

  function start() {
    const job = document.querySelector("[data-job]");
    if (job && window.EventSource) followJob(job); // first: it keeps the parts as served, before localize
    localize(document);
    const tz = document.querySelector("[data-tz]");
    if (tz) tz.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const table = document.querySelector("[data-live-jobs]");
    if (table && window.EventSource) followTable(table);
    const form = document.querySelector("form#upload");
    if (form) upload(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
