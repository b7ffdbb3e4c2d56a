// The API key dialog (#api-key-dialog). It only asks; the caller decides where the key is kept.

const dialog = document.getElementById("api-key-dialog");
const form = document.getElementById("api-key-form");
const input = document.getElementById("api-key-input");
const reasonText = document.getElementById("api-key-reason");

let pending = null;

// Resolves to {action: "save" | "forget" | "cancel", key}. Callers asking while the dialog is open
// share its answer, so several requests failing with 401 at once raise one dialog.
export function askForKey(reason, currentKey = "") {
  if (pending) return pending;
  pending = new Promise((resolve) => {
    reasonText.textContent = reason;
    input.value = currentKey;
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      pending = null;
      const action = ["save", "forget"].includes(dialog.returnValue) ? dialog.returnValue : "cancel";
      resolve({ action, key: action === "save" ? input.value.trim() : "" });
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return pending;
}

// Save is the form's only submit button, so Enter in the key field saves.
form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!input.value.trim()) {
    input.focus();
    return;
  }
  dialog.close("save");
});

document.getElementById("api-key-cancel").addEventListener("click", () => dialog.close("cancel"));
document.getElementById("api-key-forget").addEventListener("click", () => dialog.close("forget"));
