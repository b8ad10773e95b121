from django.db import transaction
from django_q.models import Schedule

from integrations.kernel.commands import AuditedCommand
from mediamanager.schedules import SCHEDULES


class Command(AuditedCommand):
    help = "Upsert the django-q2 schedules declared in mediamanager/schedules.py and remove any others."

    @transaction.atomic
    def handle(self, *args, **options):
        for task in SCHEDULES:
            _, created = Schedule.objects.update_or_create(
                name=task.name,
                defaults={"func": task.func, "schedule_type": Schedule.MINUTES, "minutes": task.minutes, "repeats": -1},
            )
            self.stdout.write(f"{'created' if created else 'updated'} {task.name} (every {task.minutes} min)")
        stale = Schedule.objects.exclude(name__in=[task.name for task in SCHEDULES])
        for name in stale.values_list("name", flat=True):
            self.stdout.write(f"removed {name}")
        stale.delete()
