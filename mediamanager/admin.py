"""Staff second-factor devices in the admin, for administrators (their role holds the view and
delete permissions): who has which authenticator app, passkey and recovery codes, and deleting
one (the staff member enrols again at the next sign-in). Registered here, ahead of django-otp's
own screens, so that no screen shows a device's secret, QR code or recovery codes."""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from mediamanager.staff_security import DEVICE_REMOVED, staff_security_event


class StaffDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username", "user__email", "name"]
    list_select_related = ["user"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # staff enrol their own devices, on the sign-in pages

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        staff_security_event(request, action=DEVICE_REMOVED, user=obj.user, actor=request.user)

    def delete_queryset(self, request, queryset):
        removed = list(queryset.select_related("user"))
        super().delete_queryset(request, queryset)
        for device in removed:
            staff_security_event(request, action=DEVICE_REMOVED, user=device.user, actor=request.user)


admin.site.register(TOTPDevice, StaffDeviceAdmin)
admin.site.register(StaticDevice, StaffDeviceAdmin)
admin.site.register(WebAuthnCredential, StaffDeviceAdmin)
