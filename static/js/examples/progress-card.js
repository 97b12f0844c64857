// A live progress card from the JavaScript client (the page: /dev/client/).
import { createStreamingReport } from "../streaming-report.js";

const $ = (id) => document.getElementById(id);
const showError = (error) => { $("card-error").textContent = error.message; };

const report = createStreamingReport({
  onProgress: render,
  onStageComplete: (stage) => { $("card-announce").textContent = `${stage.title}: done`; },
  onComplete: (doc) => {
    $("report-link").href = `/documents/${doc.id}/`;
    $("report-link").hidden = false;
  },
  onError: showError,
});

function stageItem(stage) {
  const item = document.createElement("li");
  item.className = `stage stage-${stage.status}`;
  item.dataset.stage = stage.key;
  const row = document.createElement("div");
  row.className = "stage-row";
  row.append(Object.assign(document.createElement("span"), { className: "stage-icon" }),
    Object.assign(document.createElement("span"), { className: "stage-title", textContent: stage.title }),
    Object.assign(document.createElement("span"), { className: "stage-status", textContent: stage.status }));
  item.append(row);
  if (stage.status === "running" && stage.output) {
    item.append(Object.assign(document.createElement("pre"), {
      className: "stage-output live", textContent: stage.output.slice(-600) }));
  }
  return item;
}

function render() {
  $("progress-card").hidden = false;
  $("progress-card").className = `progress-card client-card status-${report.status}`;
  $("card-title").textContent = report.snapshot?.title ?? "";
  $("card-status").textContent = report.status;
  $("card-status").className = `badge badge-${report.status}`;
  $("card-progress").setAttribute("aria-valuenow", report.progress);
  $("card-progress").firstElementChild.style.width = `${report.progress}%`;
  $("card-error").textContent = report.error ?? "";
  $("cancel").hidden = !report.isGenerating();
  $("resume").hidden = !(report.isFailed() || report.status === "cancelled");
  $("card-stages").replaceChildren(...report.stages.map(stageItem));
}

$("generate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("report-link").hidden = true;
  const input = Object.fromEntries(new FormData(event.target));
  report.generateReport("report", input).catch(showError);
});
$("cancel").addEventListener("click", () => report.cancelReport().catch(showError));
$("resume").addEventListener("click", () => report.resumeReport().catch(showError));
