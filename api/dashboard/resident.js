// The residents' page: one look-up of the API (POST /api/v1/residents/lookup), answered in the page's
// language. The API gives one answer for a wrong detail and for nobody, and a wait when there were too
// many tries; the page shows exactly those. Nothing typed is stored. (A language change applies to the
// next look-up: asking again would spend one of the resident's few tries.)
"use strict";

const LOOKUP = "/api/v1/residents/lookup";
const $ = (id) => document.getElementById(id);
let blockedUntil = 0;

function way() {
  return document.querySelector("input[name=way]:checked").value;
}

function request() {
  return way() === "id"
    ? { id_number: $("id-number").value.trim(), phone: $("phone").value.trim() }
    : { resident_id: $("resident-id").value.trim(), phone_last4: $("phone-last4").value.trim() };
}

function show(...children) {
  $("answer").replaceChildren(...children);
}

function render(answer) {
  const parts = [el("p", { class: `message mode-${answer.mode}`, id: "answer-message" }, answer.message)];
  if (answer.point) {
    parts.push(
      el("p", { id: "answer-point" }, el("strong", {}, `${t("res.where")}: `), answer.point.name, " ",
        el("a", { href: `geo:${answer.point.lat},${answer.point.lon}` }, t("res.map"))),
    );
  }
  if (answer.bring.length) {
    const items = answer.bring.map((item) => el("li", {}, item));
    parts.push(el("h2", {}, t("res.bring")), el("ul", { id: "answer-bring" }, items));
  }
  show(el("div", { class: "answer-card" }, parts));
}

// Hold the button back until the API's Retry-After has passed, counting down on it.
function countdown() {
  const left = Math.ceil((blockedUntil - Date.now()) / 1000);
  const button = $("lookup-submit");
  button.disabled = left > 0;
  button.textContent = left > 0 ? t("res.retry", { s: left }) : t("res.submit");
  if (left > 0) setTimeout(countdown, 1000);
}

async function lookUp(body) {
  let response;
  try {
    response = await fetch(LOOKUP, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": currentLang() },
      body: JSON.stringify(body),
    });
  } catch {
    show(el("p", { class: "error" }, t("error.network")));
    return;
  }
  const payload = await response.json().catch(() => ({}));
  if (response.ok) {
    render(payload);
  } else if (response.status === 429) {
    blockedUntil = Date.now() + 1000 * Number(response.headers.get("Retry-After") || 60);
    show(el("p", { class: "error", id: "answer-error" }, payload.detail));
    countdown();
  } else if (response.status === 422) {
    show(el("p", { class: "error", id: "answer-error" }, t("res.check_input")));
  } else {
    // 404: the API's single answer for a wrong detail and for nobody, in the asked language.
    show(el("p", { class: "error", id: "answer-error" }, payload.detail || response.statusText));
  }
}

function start() {
  setupLanguageToggle(null);
  for (const radio of document.querySelectorAll("input[name=way]")) {
    radio.addEventListener("change", () => {
      $("by-id").hidden = way() !== "id";
      $("by-rid").hidden = way() === "id";
    });
  }
  $("lookup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (Date.now() < blockedUntil) return;
    lookUp(request());
  });
}

start();
