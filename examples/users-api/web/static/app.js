// The users page: lists users and adds or removes them through the API,
// served from the same origin under /api. No framework, no build step.
"use strict";

const api = {
  async request(method, path, body) {
    const res = await fetch("/api" + path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch {
      throw new Error(`${method} /api${path}: HTTP ${res.status}`);
    }
    if (!res.ok) throw new Error(data && data.error ? data.error : `HTTP ${res.status}`);
    return data;
  },
  list() { return this.request("GET", "/users"); },
  create(user) { return this.request("POST", "/users", user); },
  remove(id) { return this.request("DELETE", `/users/${id}`); },
  version() { return this.request("GET", "/version"); },
};

const $ = (sel) => document.querySelector(sel);

function say(text, isError) {
  const el = $("#message");
  el.textContent = text;
  el.className = isError ? "error" : "ok";
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function render(users) {
  const body = $("#users");
  body.replaceChildren();
  $("#count").textContent = `(${users.length})`;
  if (users.length === 0) {
    const tr = document.createElement("tr");
    const td = cell("No users yet — add the first one above.");
    td.colSpan = 5;
    td.className = "muted";
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const u of users) {
    const tr = document.createElement("tr");
    const del = document.createElement("button");
    del.type = "button";
    del.className = "link";
    del.textContent = "Delete";
    del.addEventListener("click", async () => {
      try {
        await api.remove(u.id);
        say(`Deleted ${u.name}.`);
        await refresh();
      } catch (err) {
        say(err.message, true);
      }
    });
    const actions = document.createElement("td");
    actions.append(del);
    tr.append(cell(u.id), cell(u.name), cell(u.email), cell(new Date(u.created_at).toLocaleString()), actions);
    body.append(tr);
  }
}

async function refresh() {
  try {
    render(await api.list());
  } catch (err) {
    say(`Could not load users: ${err.message}`, true);
  }
}

$("#add-user").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  // form.name is the form's own name attribute: reach the inputs through elements.
  const nameInput = form.elements.namedItem("name");
  const emailInput = form.elements.namedItem("email");
  const user = { name: nameInput.value, email: emailInput.value };
  try {
    const created = await api.create(user);
    say(`Added ${created.name} (#${created.id}).`);
    form.reset();
    nameInput.focus();
    await refresh();
  } catch (err) {
    say(err.message, true);
  }
});

api.version().then((v) => { $("#version").textContent = v.version; }, () => { $("#version").textContent = "unavailable"; });
refresh();
