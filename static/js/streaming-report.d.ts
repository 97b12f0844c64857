// Types of streaming-report.js: the JavaScript client of the streaming API.
// The contract: docs/contracts.md, "The JavaScript client"; the wire formats: "The snapshot"
// and "Live events" there; how to use it: docs/javascript-client.md.

/** A stream's status; `"idle"` until the client has a stream. */
export type StreamStatus =
  | "idle" | "pending" | "running" | "completed" | "failed" | "cancelled" | "awaiting_review";
export type StageStatus = "pending" | "running" | "completed" | "failed" | "cancelled" | "skipped";

/** One stage of the snapshot, plus the text and data the client has of it. */
export interface Stage {
  key: string;
  title: string;
  position: number;
  status: StageStatus;
  attempts: number;
  error: string | null;
  error_kind: string | null;
  tokens_in: number;
  tokens_out: number;
  tokens_cached?: number;
  cost_usd: string | null;
  model: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_s: number | null;
  slow: boolean;
  /** Where its output came from: this stream's model, a person's edit, or copied from
   * the stream it was forked from (no model call here). */
  source?: "model" | "edited" | "copied";
  /** The text so far: grows with each `stage.delta`, whole once the stage completes. */
  output: string;
  /** The parsed JSON of a stage that has any, once it completes; else null. */
  data: unknown;
}

/** `GET /api/streams/{stream_id}/`, and the first frame of every (re)connect. */
export interface StreamSnapshot {
  stream_id: string;
  job_id: string;
  type: string;
  title: string;
  status: Exclude<StreamStatus, "idle">;
  progress: number;
  current_stage: string | null;
  eta_seconds: number | null;
  error: string | null;
  error_kind: string | null;
  report_id: string | null;
  tokens_in: number;
  tokens_out: number;
  tokens_cached?: number;
  cost_usd: string | null;
  cost_complete: boolean;
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  is_generating: boolean;
  is_completed: boolean;
  is_failed: boolean;
  seq: number;
  queue_position: number | null;
  /** What the stream may spend in USD (six decimals), null for no cap. */
  budget_usd: string | null;
  /** Stages that are written and wait for their owner's review (review points). */
  awaiting_review: string[];
  stages: Omit<Stage, "output" | "data">[];
}

/** `GET /api/reports/{report_id}/`: the finished document. */
export interface Report {
  id: string;
  title: string;
  markdown: string;
  /** Rendered and sanitized. */
  html: string;
  job_type: string;
  job_id: string | null;
  stream_id: string | null;
  version: number;
  reason: string;
  exports: Record<string, string>;
  created_at: string | null;
  updated_at: string | null;
}

/** What went wrong: `code` is the API's error code (or `stream_failed`, `network`, `forbidden`). */
export declare class StreamingReportError extends Error {
  readonly code: string;
  /** The HTTP status, 0 when there was no answer. */
  readonly status: number;
  readonly details: unknown;
  constructor(code: string, message: string, status?: number, details?: unknown);
}

export interface StreamingReportOptions {
  /** Called after every change of state (each live event), with the client itself. */
  onProgress?: (report: StreamingReport) => void;
  /** Once per stage completion, in order, with the stage's whole text and data. */
  onStageComplete?: (stage: Stage, data: unknown) => void;
  /** Once per finished document. */
  onComplete?: (report: Report) => void;
  /** The stream failed, or something the caller did not ask for did (a background
   * request, a connection that is not allowed). Actions reject instead. */
  onError?: (error: StreamingReportError) => void;
  /** An API token (`manage.py create_api_token <user>`): sent as `Authorization: Bearer`
   * over HTTP and SSE, and as the WebSocket subprotocols `bearer, <token>`. Without it
   * the session cookie is used, with CSRF from the `csrftoken` cookie. */
  token?: string;
  /** The CSRF token, when the page has no `csrftoken` cookie. */
  csrfToken?: string;
  /** Where the site is; default: this page's origin. */
  baseUrl?: string;
  /** `"auto"` (default): WebSocket, and SSE when WebSockets never connect. */
  transport?: "auto" | "websocket" | "sse";
  /** Reconnect backoff in ms: doubles from minDelay (500) up to maxDelay (30000), jittered. */
  reconnect?: { minDelay?: number; maxDelay?: number };
}

export interface StreamingReport {
  // State (read it, do not assign it)
  /** The finished document's id (null until there is one). */
  readonly reportId: string | null;
  readonly streamId: string | null;
  /** The domain job the stream belongs to. */
  readonly jobId: string | null;
  readonly status: StreamStatus;
  /** 0-100. */
  readonly progress: number;
  readonly stages: Stage[];
  /** The finished document, loaded when the stream completes. */
  readonly report: Report | null;
  /** A message a person can act on: the stream's error, or the last failed request's. */
  readonly error: string | null;
  /** The last snapshot, as the server sent it. */
  readonly snapshot: StreamSnapshot | null;
  readonly connection: "closed" | "connecting" | "open" | "reconnecting";
  readonly transport: "websocket" | "sse";
  /** How many times the live connection ended without being asked to. */
  readonly reconnects: number;

  // Actions (each resolves with the snapshot after it; rejects with StreamingReportError)
  /** Start generating and follow the new stream (or the job's active one). */
  generateReport(type: string, input: Record<string, unknown> | { jobId: string }): Promise<StreamSnapshot>;
  /** Continue from the first unfinished stage; completed stages are kept. */
  resumeReport(): Promise<StreamSnapshot>;
  /** Stop now; the stream can be resumed. */
  cancelReport(): Promise<StreamSnapshot>;
  /** Fetch the snapshot over HTTP. */
  refreshStatus(): Promise<StreamSnapshot>;
  /** Follow an existing stream. */
  watch(streamId: string): Promise<StreamSnapshot>;
  /** Close the live connection (a later action or `watch` opens it again). */
  close(): void;

  // Helpers
  /** Pending or running. */
  isGenerating(): boolean;
  isCompleted(): boolean;
  isFailed(): boolean;
  /** The stage's status, or null when there is no such stage. */
  getStageStatus(key: string): StageStatus | null;
  /** The stage's parsed JSON when it has any, else its text so far; null when there is none. */
  getStageData(key: string): unknown;
}

export declare function createStreamingReport(options?: StreamingReportOptions): StreamingReport;
