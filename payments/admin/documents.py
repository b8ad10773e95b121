"""The "PDF" button of invoice and credit-note pages: the stored document as issued (rendered on
first need, payments.services.documents), for the staff who hold payments.view_pdf (support,
finance, administrators), behind the admin's sign-in and second factor."""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path, reverse

from integrations.kernel.errors import DomainError
from payments.documents.http import document_response

PDF_PERMISSION = "payments.view_pdf"


def has_pdf_permission(request) -> bool:
    return request.user.has_perm(PDF_PERMISSION)


class DocumentPdfMixin:
    """For a ModelAdmin of an issued document: `<id>/pdf/` and the button that opens it.
    `document_render(obj)` answers the stored document, `document_number(obj)` its number (None: not issued)."""

    def document_render(self, obj):
        raise NotImplementedError

    def document_number(self, obj) -> str | None:
        return obj.number

    def _pdf_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_pdf"

    def get_urls(self):
        view = self.admin_site.admin_view(self.pdf_view)
        return [path("<path:object_id>/pdf/", view, name=self._pdf_url_name()), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.document_number(obj) and has_pdf_permission(request):
            extra_context["pdf_url"] = reverse(f"admin:{self._pdf_url_name()}", args=[obj.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def pdf_view(self, request, object_id):
        if not has_pdf_permission(request):
            raise PermissionDenied
        obj = self.get_queryset(request).filter(pk=unquote(object_id)).first()
        if obj is None or not self.document_number(obj):
            raise Http404("No such issued document.")
        try:
            document = self.document_render(obj)
        except DomainError as error:
            raise Http404(error.message) from None
        return document_response(request, document=document, number=self.document_number(obj), inline=True)
