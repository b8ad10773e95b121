from django.urls import path

from payments.api import views

urlpatterns = [
    path("customers", views.CustomerListCreateView.as_view(), name="customer-list"),
    path("customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<str:customer_id>/tokens", views.CustomerTokenCreateView.as_view(), name="customer-tokens"),
    path("payments", views.PaymentListView.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", views.PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<str:payment_id>/refunds", views.PaymentRefundView.as_view(), name="payment-refunds"),
    path("invoices", views.InvoiceListView.as_view(), name="invoice-list"),
    path("invoices/<str:invoice_id>", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<str:invoice_id>/pdf", views.InvoicePdfView.as_view(), name="invoice-pdf"),
    path("credit-notes", views.CreditNoteListView.as_view(), name="credit-note-list"),
    path("credit-notes/<str:credit_note_id>", views.CreditNoteDetailView.as_view(), name="credit-note-detail"),
    path("credit-notes/<str:credit_note_id>/pdf", views.CreditNotePdfView.as_view(), name="credit-note-pdf"),
    path("me", views.MeView.as_view(), name="me"),
    path("me/gateway", views.MeGatewayView.as_view(), name="me-gateway"),
    path("me/payment-methods", views.MePaymentMethodListView.as_view(), name="me-payment-methods"),
    path(
        "me/payment-methods/<str:payment_method_id>",
        views.MePaymentMethodDetailView.as_view(),
        name="me-payment-method",
    ),
    path(
        "me/payment-methods/<str:payment_method_id>/default",
        views.MePaymentMethodDefaultView.as_view(),
        name="me-payment-method-default",
    ),
    path("me/invoices", views.MeInvoiceListView.as_view(), name="me-invoices"),
    path("me/invoices/<str:invoice_id>/pdf", views.MeInvoicePdfView.as_view(), name="me-invoice-pdf"),
    path("me/payments", views.MePaymentListView.as_view(), name="me-payments"),
    path("me/payments/<str:payment_id>", views.MePaymentDetailView.as_view(), name="me-payment-detail"),
]
