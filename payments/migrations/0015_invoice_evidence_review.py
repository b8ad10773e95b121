"""Finance's "Tax evidence to review" screen (a proxy of the invoice, with permissions of its own)
and who reviewed an invoice's inconclusive evidence, and when."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0014_invoice_tax'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='InvoiceEvidenceReview',
            fields=[
            ],
            options={
                'verbose_name': 'tax evidence to review',
                'verbose_name_plural': 'tax evidence to review',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('payments.invoice',),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_evidence_reviewed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_evidence_reviewed_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(('tax_evidence_reviewed_at__isnull', True), ('tax_evidence_conclusive', False), _connector='OR'), name='invoice_evidence_reviewed_inconclusive'),
        ),
    ]
