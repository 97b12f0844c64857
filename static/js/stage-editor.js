// A JSON stage edited as a form built from its schema: fields for an object, a list with
// Add, Remove, Up and Down for an array, a select for a choice. The text area stays what
// the form submits: every change writes the JSON back into it. Without JavaScript (or
// with "Edit as JSON") the text area is edited directly; the server checks either.
(function () {
  "use strict";

  var area = document.querySelector("textarea[data-schema]");
  var schemaNode = area && document.getElementById(area.dataset.schema);
  if (!area || !schemaNode) return;
  var schema, state;
  try {
    schema = JSON.parse(schemaNode.textContent);
    state = JSON.parse(area.value);
  } catch (error) {
    return; // not JSON yet: the text area as it is
  }
  var counter = 0;

  function label(name, sub) {
    var text = (sub && sub.title) || String(name).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function save() {
    area.value = JSON.stringify(state, null, 2);
  }

  function blank(sub) {
    if (!sub) return "";
    if (sub.type === "object") {
      var item = {};
      Object.keys(sub.properties || {}).forEach(function (key) {
        item[key] = blank(sub.properties[key]);
      });
      return item;
    }
    if (sub.type === "array") return [];
    if (sub.enum) return sub.enum[0];
    return sub.type === "number" || sub.type === "integer" ? 0 : "";
  }

  function button(text, aria, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "button small";
    b.textContent = text;
    b.setAttribute("aria-label", aria);
    b.addEventListener("click", onClick);
    return b;
  }

  // One value: ``get`` reads it, ``set`` writes it (into its parent object or list).
  function editor(sub, name, get, set) {
    sub = sub || {};
    if (sub.type === "object" && sub.properties) {
      var box = document.createElement("div");
      box.className = "se-object";
      Object.keys(sub.properties).forEach(function (key) {
        var part = sub.properties[key];
        box.appendChild(field(part, label(key, part), function () { return get()[key]; },
          function (value) { get()[key] = value; }));
      });
      return box;
    }
    if (sub.type === "array") return list(sub, name, get, set);
    var id = "se-" + (++counter);
    var input;
    if (sub.enum) {
      input = document.createElement("select");
      sub.enum.forEach(function (choice) {
        var option = document.createElement("option");
        option.value = option.textContent = choice;
        input.appendChild(option);
      });
    } else {
      input = document.createElement(String(get() || "").length > 70 ? "textarea" : "input");
      // Tall enough for its text (a long objective is read whole), up to six lines.
      if (input.tagName === "TEXTAREA") {
        input.rows = Math.min(6, Math.max(2, Math.ceil(String(get()).length / 60)));
      }
    }
    input.id = id;
    input.value = get() == null ? "" : get();
    input.addEventListener("input", function () {
      var value = input.value;
      if (sub.type === "number" || sub.type === "integer") value = Number(value);
      set(value);
      save();
    });
    input.addEventListener("change", save);
    return input;
  }

  function field(sub, text, get, set) {
    var wrap = document.createElement("div");
    wrap.className = "field se-field";
    var control = editor(sub, text, get, set);
    var name = document.createElement(control.id ? "label" : "span");
    name.className = "se-label";
    name.textContent = text;
    if (control.id) name.htmlFor = control.id;
    wrap.appendChild(name);
    wrap.appendChild(control);
    return wrap;
  }

  function list(sub, name, get, set) {
    if (!Array.isArray(get())) set([]);
    var box = document.createElement("div");
    box.className = "se-list";
    var items = document.createElement("ol");
    items.className = "se-items";
    box.appendChild(items);
    var noun = String(name).toLowerCase().replace(/s$/, "") || "item";

    function draw(focusIndex) {
      items.textContent = "";
      var values = get();
      values.forEach(function (_, index) {
        var li = document.createElement("li");
        li.className = "se-item";
        var itemLabel = label(noun) + " " + (index + 1);
        var control = editor(sub.items, itemLabel, function () { return get()[index]; },
          function (value) { get()[index] = value; });
        if (control.id) control.setAttribute("aria-label", itemLabel);
        li.appendChild(control);
        var actions = document.createElement("div");
        actions.className = "se-actions";
        actions.appendChild(button("↑", "Move " + itemLabel + " up", function () {
          move(index, index - 1);
        }));
        actions.appendChild(button("↓", "Move " + itemLabel + " down", function () {
          move(index, index + 1);
        }));
        actions.appendChild(button("Remove", "Remove " + itemLabel, function () {
          get().splice(index, 1);
          save();
          draw(Math.min(index, get().length - 1));
        }));
        li.appendChild(actions);
        items.appendChild(li);
      });
      if (focusIndex != null && items.children[focusIndex]) {
        var first = items.children[focusIndex].querySelector("input, textarea, select");
        if (first) first.focus();
      }
    }

    function move(from, to) {
      var values = get();
      if (to < 0 || to >= values.length) return;
      values.splice(to, 0, values.splice(from, 1)[0]);
      save();
      draw(to);
    }

    box.appendChild(button("Add " + noun, "Add " + noun, function () {
      get().push(blank(sub.items));
      save();
      draw(get().length - 1);
    }));
    draw(null);
    return box;
  }

  var holder = { value: state };
  var form = editor(schema, "", function () { return holder.value; },
    function (value) { holder.value = value; state = value; });
  form.classList.add("stage-editor");
  var raw = area.closest(".field");
  raw.hidden = true;
  raw.parentNode.insertBefore(form, raw);
  var toggle = button("Edit as JSON instead", "Edit as JSON instead", function () {
    form.remove();
    toggle.remove();
    raw.hidden = false;
    area.focus();
  });
  toggle.classList.add("se-toggle");
  form.parentNode.insertBefore(toggle, raw);
})();
