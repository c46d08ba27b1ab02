// Keyboard review on the case page: the whole label form without the mouse.
// One listener on the document, so it keeps working after htmx swaps the page body.
(function () {
  "use strict";

  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) &&
        !(target instanceof HTMLInputElement && ["radio", "checkbox"].includes(target.type)));
  }

  function follow(link) {
    if (link) link.click(); // a boosted link or form button: htmx swaps the body, pushes the URL
  }

  function toggleShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.target instanceof Element && event.target.closest("[data-show-shortcuts]")) {
      toggleShortcuts();
    }
  });

  document.addEventListener("keydown", function (event) {
    const form = document.getElementById("label-form");
    const note = form ? form.querySelector("textarea[name=note]") : null;
    if (event.key === "Escape" && document.activeElement === note) {
      note.blur();
      event.preventDefault();
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (typing(event.target) || event.altKey || event.ctrlKey || event.metaKey) return;
    if (!document.getElementById("case")) return;

    // event.code, not event.key: Shift+1 is "!" on one layout and "+" on another.
    const digit = /^Digit([1-9])$/.exec(event.code);
    if (digit && form) {
      const position = Number(digit[1]);
      if (event.shiftKey) {
        const select = form.querySelector("select[name=right_tier]");
        // Option 0 is "suggested by the verdict"; tiers follow, cheapest first.
        if (select && position < select.options.length) select.selectedIndex = position;
      } else {
        const choice = form.querySelectorAll("input[name=verdict]")[position - 1];
        if (choice) {
          choice.checked = true;
          choice.focus();
        }
      }
      event.preventDefault();
      return;
    }
    switch (event.key) {
      case "Enter":
        if (form) {
          event.preventDefault();
          form.requestSubmit();
        }
        break;
      case "n":
        if (note) {
          event.preventDefault();
          note.focus();
        }
        break;
      case "j":
        follow(document.getElementById("next-link"));
        break;
      case "k":
        follow(document.getElementById("prev-link"));
        break;
      case "e": {
        const details = document.querySelector("#case details.long-text");
        if (details) details.open = !details.open;
        break;
      }
      case "?":
        toggleShortcuts();
        break;
    }
  });
})();
