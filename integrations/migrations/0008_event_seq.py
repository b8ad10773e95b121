"""Events get the order they were written in (seq), and connectors' cursors move onto it. The
existing rows are numbered in the (created_at, id) order the cursors used; then the database fills
the column itself (integrations/event_order.py). Adding the column rewrites the table once."""

from django.db import migrations, models


def number_and_install(apps, schema_editor):
    from integrations.event_order import NUMBER_EXISTING, event_order_install

    schema_editor.execute(NUMBER_EXISTING)
    event_order_install(schema_editor.connection)


def cursors_onto_seq(apps, schema_editor):
    Connector, Event = apps.get_model("integrations", "Connector"), apps.get_model("integrations", "Event")
    for connector in Connector.objects.exclude(cursor_event_id=""):
        seq = Event.objects.filter(pk=connector.cursor_event_id).values_list("seq", flat=True).first()
        if seq is None:  # the event is gone: everything up to its time was handled
            seq = Event.objects.filter(created_at__lte=connector.cursor_created_at).aggregate(m=models.Max("seq"))["m"]
        Connector.objects.filter(pk=connector.pk).update(cursor_seq=seq or 0)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0007_webhooks")]

    operations = [
        migrations.AddField("event", "seq", models.BigIntegerField(db_default=0, editable=False)),
        migrations.RunPython(number_and_install, migrations.RunPython.noop),
        migrations.AddIndex("event", models.Index(fields=["seq"], name="event_seq")),
        migrations.AddField("connector", "cursor_seq", models.BigIntegerField(default=0)),
        migrations.RunPython(cursors_onto_seq, migrations.RunPython.noop),
    ]
