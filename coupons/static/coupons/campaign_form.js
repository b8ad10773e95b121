"use strict";
// The campaign form shows only the fields that apply: the code or the template of the kind chosen,
// the chosen discount's own fields, and the cycles of a repeating duration. Without JavaScript
// every field shows and the server ignores the ones that do not apply.
(function () {
    function chosen(name) {
        const input = document.querySelector(`input[name="${name}"]:checked`);
        return input ? input.value : null;
    }

    function show(field, visible) {
        document.querySelectorAll(`.form-row.field-${field}`).forEach((row) => {
            row.style.display = visible ? "" : "none";
        });
    }

    function update() {
        const kind = chosen("kind");
        if (kind !== null) {
            show("code", kind === "single_code");
            show("code_template", kind === "bulk");
        }
        const discount = chosen("discount_type");
        if (discount !== null) {
            show("percent_off", discount === "percent");
            show("amounts_off", discount === "amount");
            show("trial_length", discount === "free_trial");
            show("trial_unit", discount === "free_trial");
            show("duration", discount !== "free_trial");
            show("duration_cycles", discount !== "free_trial" && chosen("duration") === "repeating");
        }
    }

    document.addEventListener("DOMContentLoaded", () => {
        const inputs = 'input[name="kind"], input[name="discount_type"], input[name="duration"]';
        document.querySelectorAll(inputs).forEach((input) => input.addEventListener("change", update));
        update();
    });
})();
