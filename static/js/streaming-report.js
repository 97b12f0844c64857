// A dependency-free client for streaming reports: start one, follow it live, act on it.
// Types: streaming-report.d.ts next to this file. Docs: docs/javascript-client.md.
//
// Live updates come over the WebSocket JSON contract (/ws/streams/<id>/): a snapshot
// first on every (re)connect, then events in `seq` order. A dropped socket reconnects
// with backoff and the snapshot catches up on whatever it missed; a `seq` gap asks for
// a fresh snapshot. Where WebSockets cannot connect, Server-Sent Events carry the same
// events (/api/streams/<id>/events/, resumed with Last-Event-ID).

const ACTIVE = new Set(["pending", "running"]);
const FINAL_EVENTS = new Set([
  "stream.completed", "stream.failed", "stream.cancelled", "stream.awaiting_review",
]);
// Answers after which trying again cannot help.
const PERMANENT = new Set([401, 403, 404]);

/** An API or connection failure: `code` is the API's error code, `status` the HTTP status. */
export class StreamingReportError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} [status]
   * @param {unknown} [details]
   */
  constructor(code, message, status = 0, details = null) {
    super(message);
    this.name = "StreamingReportError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

/**
 * Start or follow one stream at a time. See streaming-report.d.ts for every field.
 * @param {import("./streaming-report").StreamingReportOptions} [options]
 * @returns {import("./streaming-report").StreamingReport}
 */
export function createStreamingReport(options = {}) {
  const base = (options.baseUrl || window.location.origin).replace(/\/$/, "");
  const token = options.token || null;
  const minDelay = options.reconnect?.minDelay ?? 500;
  const maxDelay = options.reconnect?.maxDelay ?? 30000;
  let mode = options.transport === "sse" || typeof WebSocket === "undefined" ? "sse" : "websocket";

  let socket = null; // the WebSocket, or the AbortController of the SSE request
  let timer = null;
  let attempts = 0; // failed connections since the last one that opened
  let everOpened = false;
  let stopped = true;
  let lastSeq = null;
  let sinceSnapshot = false; // the first event after a snapshot may skip seqs (deltas)
  let awaitingSnapshot = false; // a gap was seen: events wait for the fresh snapshot
  let announced = new Set(); // stages whose onStageComplete has run
  let completedReport = null;
  let chain = Promise.resolve(); // callbacks run in the order their events came
  const fetching = new Set();

  const client = {
    reportId: null, streamId: null, jobId: null, status: "idle", progress: 0,
    stages: [], report: null, error: null, snapshot: null,
    connection: "closed", transport: mode, reconnects: 0,
    generateReport, resumeReport, cancelReport, refreshStatus, watch, close,
    isGenerating: () => ACTIVE.has(client.status),
    isCompleted: () => client.status === "completed",
    isFailed: () => client.status === "failed",
    getStageStatus: (key) => stage(key)?.status ?? null,
    getStageData: (key) => {
      const found = stage(key);
      if (!found) return null;
      return found.data ?? (found.output || null);
    },
  };

  function stage(key) {
    return client.stages.find((s) => s.key === key);
  }

  function emit() {
    options.onProgress?.(client);
  }

  function later(fn) {
    chain = chain.then(fn).catch(reportError);
    return chain;
  }

  function reportError(error) {
    const err = error instanceof StreamingReportError
      ? error : new StreamingReportError("client_error", String(error?.message || error));
    client.error = err.message;
    options.onError?.(err);
    emit();
  }

  // --- HTTP ------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    else if (method !== "GET") headers["X-CSRFToken"] = options.csrfToken || cookie("csrftoken") || "";
    let response;
    try {
      response = await fetch(base + path, {
        method, headers, credentials: token ? "omit" : "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new StreamingReportError("network", `Could not reach the server: ${error.message}`);
    }
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      throw new StreamingReportError(
        payload?.error || "http_" + response.status,
        payload?.message || `The server answered ${response.status}.`,
        response.status, payload?.details ?? null);
    }
    return payload;
  }

  const streamPath = (suffix = "") => `/api/streams/${encodeURIComponent(client.streamId)}/${suffix}`;

  async function generateReport(type, input = {}) {
    const body = { type };
    if (input && typeof input === "object" && "jobId" in input) body.job_id = String(input.jobId);
    else body.input_data = input;
    return follow(await api("POST", "/api/streams/", body));
  }

  async function watch(streamId) {
    return follow(await api("GET", `/api/streams/${encodeURIComponent(streamId)}/`));
  }

  async function resumeReport() {
    requireStream();
    return follow(await api("POST", streamPath("resume/")));
  }

  async function cancelReport() {
    requireStream();
    applySnapshot(await api("POST", streamPath("cancel/")));
    return client.snapshot;
  }

  async function refreshStatus() {
    requireStream();
    applySnapshot(await api("GET", streamPath()));
    return client.snapshot;
  }

  function requireStream() {
    if (!client.streamId) throw new StreamingReportError("no_stream", "Generate or watch a stream first.");
  }

  // Show a snapshot and keep a live connection to its stream.
  function follow(snapshot) {
    if (snapshot.stream_id !== client.streamId) {
      disconnect();
      Object.assign(client, { streamId: snapshot.stream_id, stages: [], report: null, reportId: null });
      announced = new Set();
      completedReport = null;
      lastSeq = null;
    }
    applySnapshot(snapshot);
    stopped = false;
    if (!socket) connect(); // now, rather than after a pending backoff
    return snapshot;
  }

  function close() {
    stopped = true;
    disconnect();
    client.connection = "closed";
  }

  function disconnect() {
    clearTimeout(timer);
    const current = socket;
    socket = null;
    if (current instanceof AbortController) current.abort();
    else if (current) current.close(1000);
  }

  // --- State -----------------------------------------------------------------------
  function setStatus(status, error) {
    const before = client.status;
    client.status = status;
    if (error !== undefined) client.error = error || null;
    if (status === "failed" && before !== "failed") {
      const message = client.error || "The stream failed.";
      later(() => options.onError?.(new StreamingReportError("stream_failed", message)));
    }
  }

  function applySnapshot(snapshot) {
    const held = new Map(client.stages.map((s) => [s.key, s]));
    client.snapshot = snapshot;
    client.jobId = snapshot.job_id;
    client.progress = snapshot.progress;
    client.reportId = snapshot.report_id;
    client.stages = snapshot.stages.map((s) => {
      const old = held.get(s.key);
      const keep = old && s.status !== "pending";
      return { ...s, output: keep ? old.output : "", data: keep ? old.data : null };
    });
    setStatus(snapshot.status, snapshot.error);
    for (const s of client.stages) {
      if (s.status === "completed") stageCompleted(s.key);
      else announced.delete(s.key);
    }
    if (snapshot.status === "completed" && snapshot.report_id) loadReport(snapshot.report_id);
    emit();
  }

  function applyEvent(event) {
    const s = event.stage ? stage(event.stage) : null;
    switch (event.type) {
      case "stage.started":
        if (s) Object.assign(s, { status: "running", output: "", data: null, error: null });
        announced.delete(event.stage);
        setStatus("running");
        break;
      case "stage.delta":
        if (s) applyDelta(s, event);
        break;
      case "stage.retrying":
        if (s) Object.assign(s, { attempts: event.attempt ?? s.attempts, error: event.error ?? null });
        break;
      case "stage.completed":
        if (s) {
          const { type, seq, stream_id, stage: key, ...fields } = event;
          Object.assign(s, fields, { status: "completed" });
          stageCompleted(key);
        }
        break;
      case "stage.failed":
        if (s) Object.assign(s, { status: "failed", error: event.error ?? null });
        break;
      case "stage.cancelled":
        if (s) s.status = "cancelled";
        break;
      case "stream.progress":
        client.progress = event.progress ?? client.progress;
        if (event.status) setStatus(event.status);
        break;
      default:
        if (FINAL_EVENTS.has(event.type)) {
          if (event.report_id) client.reportId = event.report_id;
          if (event.progress !== undefined) client.progress = event.progress;
          setStatus(event.status || event.type.slice("stream.".length), event.error);
          // The final totals (tokens, cost, times) are in the snapshot.
          later(refreshStatus);
        }
    }
    emit();
  }

  // `offset` says where the delta's text starts: 0 replaces, the end appends.
  function applyDelta(s, event) {
    const offset = event.offset ?? s.output.length;
    if (offset <= s.output.length) s.output = s.output.slice(0, offset) + event.text;
    else fetchStage(s.key); // a hole: what came before is on the server
  }

  async function fetchStage(key) {
    const id = client.streamId;
    if (fetching.has(key)) return;
    fetching.add(key);
    try {
      const detail = await api("GET", streamPath(`stages/${encodeURIComponent(key)}/`));
      const s = stage(key);
      if (id === client.streamId && s && detail.output.length >= s.output.length) Object.assign(s, detail);
    } finally {
      fetching.delete(key);
    }
  }

  function stageCompleted(key) {
    if (announced.has(key)) return;
    announced.add(key);
    const id = client.streamId;
    later(async () => {
      await fetchStage(key); // the whole text and the parsed data
      const s = stage(key);
      if (id !== client.streamId || !s) return;
      options.onStageComplete?.(s, client.getStageData(key));
      emit();
    });
  }

  function loadReport(reportId) {
    if (completedReport === reportId) return;
    completedReport = reportId;
    later(async () => {
      const report = await api("GET", `/api/reports/${encodeURIComponent(reportId)}/`);
      if (client.reportId !== reportId) return;
      client.report = report;
      options.onComplete?.(report);
      emit();
    });
  }

  // --- Live connection ---------------------------------------------------------------
  function receive(frame, resync) {
    if (frame.type === "snapshot") {
      lastSeq = frame.seq;
      sinceSnapshot = true;
      awaitingSnapshot = false;
      applySnapshot(frame.stream);
      return;
    }
    if (frame.type === "error") {
      if (frame.error === "rate_limited") later(refreshStatus);
      return;
    }
    if (awaitingSnapshot || frame.stream_id !== client.streamId || typeof frame.seq !== "number") return;
    if (lastSeq !== null && frame.seq <= lastSeq) return; // seen already
    const gap = lastSeq !== null && frame.seq !== lastSeq + 1 && !sinceSnapshot;
    // The server drops deltas the client already holds, so only a boundary event's gap counts.
    if (gap && frame.type !== "stage.delta") {
      awaitingSnapshot = true;
      resync();
      return;
    }
    sinceSnapshot = false;
    lastSeq = frame.seq;
    applyEvent(frame);
  }

  function connect() {
    clearTimeout(timer);
    timer = null;
    awaitingSnapshot = false;
    if (stopped || !client.streamId || socket) return;
    client.transport = mode;
    client.connection = attempts || everOpened ? "reconnecting" : "connecting";
    if (mode === "sse") connectSse();
    else connectWebSocket();
  }

  function connectWebSocket() {
    const url = base.replace(/^http/, "ws") + `/ws/streams/${encodeURIComponent(client.streamId)}/`;
    const ws = token ? new WebSocket(url, ["bearer", token]) : new WebSocket(url);
    let opened = false;
    socket = ws;
    ws.onopen = () => {
      opened = everOpened = true;
      attempts = 0;
      client.connection = "open";
      emit();
    };
    ws.onmessage = (message) => {
      if (socket !== ws) return;
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      receive(frame, () => {
        try { ws.send(JSON.stringify({ type: "snapshot" })); } catch { ws.close(); }
      });
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (stopped) return;
      // Two refusals in a row before ever connecting: try Server-Sent Events instead.
      if (!opened && !everOpened && options.transport !== "websocket" && attempts >= 1) mode = "sse";
      dropped(!opened);
    };
  }

  async function connectSse() {
    const controller = new AbortController();
    socket = controller;
    const headers = { Accept: "text/event-stream" };
    if (token) headers.Authorization = "Bearer " + token;
    if (lastSeq !== null) headers["Last-Event-ID"] = String(lastSeq);
    let opened = false;
    try {
      const response = await fetch(base + streamPath("events/"), {
        headers, signal: controller.signal, cache: "no-store", credentials: token ? "omit" : "same-origin",
      });
      if (!response.ok) {
        if (PERMANENT.has(response.status)) return refuse(response.status);
        throw new Error(`SSE answered ${response.status}`);
      }
      opened = everOpened = true;
      attempts = 0;
      client.connection = "open";
      emit();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
          // A gap: reconnect, and the server replays from Last-Event-ID.
          if (data.length) receive(JSON.parse(data.join("\n")), () => controller.abort());
          if (controller.signal.aborted) break;
        }
        if (controller.signal.aborted) break;
      }
    } catch (error) {
      if (socket !== controller) return;
    }
    if (socket !== controller || stopped) return;
    socket = null;
    dropped(!opened);
  }

  function refuse(status) {
    socket = null;
    stopped = true;
    client.connection = "closed";
    reportError(new StreamingReportError("forbidden", `Not allowed to watch this stream (${status}).`, status));
  }

  // The connection ended without our asking: catch up over HTTP, then reconnect.
  function dropped(neverOpened) {
    attempts += 1;
    client.reconnects += 1;
    client.connection = "reconnecting";
    emit();
    const cap = Math.min(maxDelay, minDelay * 2 ** Math.min(attempts - 1, 16));
    const delay = cap / 2 + Math.random() * (cap / 2);
    const id = client.streamId;
    // A refused handshake looks like a network failure to the browser: ask over HTTP.
    const again = () => {
      if (!stopped && id === client.streamId && !socket) timer = setTimeout(connect, delay);
    };
    const check = neverOpened ? refreshStatus() : Promise.resolve();
    check.then(again, (error) => (PERMANENT.has(error.status) ? refuse(error.status) : again()));
  }

  return client;
}
