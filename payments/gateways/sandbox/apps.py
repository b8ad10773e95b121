from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "payments.gateways.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from payments.gateways.registry import register
        from payments.gateways.sandbox.gateway import SandboxGateway

        register(SandboxGateway)
