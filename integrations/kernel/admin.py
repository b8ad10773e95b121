"""Admin actions that ask first and then call one service per selected row, for every app."""

from collections.abc import Callable

from django.contrib import messages
from django.template.response import TemplateResponse

from integrations.kernel.errors import DomainError

# What one action did to one row: (done, what to tell the operator).
Outcome = tuple[bool, str]


class ConfirmedActionsMixin:
    """For a ModelAdmin: `_confirm` renders templates/admin/confirm_action.html (nothing happens
    until it is posted back with confirm=yes); `_each` runs a service per row, reports successes
    and refusals, and never lets one refusal stop the others."""

    def has_operate_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def action_name(self, obj) -> str:
        """How a row is named in a success message."""
        return str(obj.pk)

    def action_ref(self, obj) -> str:
        """How a row is named when it was refused."""
        return str(obj.pk)

    def action_queryset(self, queryset):
        return queryset

    def _confirm(self, request, queryset, *, action: str, title: str, question: str, form=None):
        return TemplateResponse(
            request,
            "admin/confirm_action.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "question": question,
                "objects": queryset,
                "action": action,
                "opts": self.opts,
                "form": form,
            },
        )

    def _each(self, request, queryset, *, done: str, call: Callable[[object], Outcome]) -> None:
        succeeded, failed = [], []
        for obj in self.action_queryset(queryset):
            try:
                ok, text = call(obj)
            except DomainError as error:  # the service refused this one and rolled back its own work
                failed.append(f"{self.action_ref(obj)}: {error.message}")
                continue
            if ok:
                self.log_change(request, obj, f"{done}: {text}.")
                succeeded.append(f"{self.action_name(obj)} ({text})")
            else:
                failed.append(f"{self.action_ref(obj)}: {text}")
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)
        if failed:
            self.message_user(request, f"Not done: {'; '.join(failed)}", messages.ERROR)
