"""Invoices carry their tax: each line's net, rate and tax, the invoice's behaviour (inclusive or
exclusive), where it is taxed and on what evidence. Lines built before this were untaxed, so
their net is their total less their tax (0); a deferred trigger (PostgreSQL) keeps every
invoice equal to the sum of its lines at commit."""

import django.db.models.deletion
import django.db.models.expressions
import djmoney.models.fields
from django.db import migrations, models


def _guard_install(apps, schema_editor):
    from payments.invoice_guard import invoice_guard_install

    invoice_guard_install(schema_editor.connection)


def _guard_remove(apps, schema_editor):
    from payments.invoice_guard import invoice_guard_remove

    invoice_guard_remove(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0013_tax_registrations_and_rates'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='invoice',
            name='invoice_total_adds_up',
        ),
        migrations.RemoveConstraint(
            model_name='invoiceline',
            name='invoice_line_total_adds_up',
        ),
        migrations.RemoveConstraint(
            model_name='invoiceline',
            name='invoice_line_total_not_negative',
        ),
        migrations.AddField(
            model_name='customer',
            name='subdivision',
            field=models.CharField(blank=True, default='', help_text='US state or Canadian province (ISO 3166-2, e.g. QC): its tax.', max_length=3),
        ),
        migrations.AddField(
            model_name='invoice',
            name='billing_country',
            field=models.CharField(blank=True, max_length=2),
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_business_name',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_tax_id',
            field=models.CharField(blank=True, help_text="The customer's tax id when it was built.", max_length=20),
        ),
        migrations.AddField(
            model_name='invoice',
            name='card_country',
            field=models.CharField(blank=True, help_text="The card's issuing country, if known.", max_length=2),
        ),
        migrations.AddField(
            model_name='invoice',
            name='ip_country',
            field=models.CharField(blank=True, help_text='The country the app reported, if any.', max_length=2),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_country',
            field=models.CharField(blank=True, help_text='Where it is taxed (place of supply).', max_length=2),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_evidence_conclusive',
            field=models.BooleanField(help_text='At least two pieces of location evidence agree (empty: built before tax evidence).', null=True),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_inclusive',
            field=models.BooleanField(default=True, help_text="Whether the lines' amounts include the tax."),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_registration',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='payments.taxregistration'),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_status',
            field=models.CharField(choices=[('collecting', 'tax collected'), ('reverse_charge', 'reverse charge (the business customer accounts for it)'), ('not_registered', 'not registered there: no tax'), ('no_rate', 'registered, but no rate in force: no tax')], default='not_registered', max_length=14),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_subdivision',
            field=models.CharField(blank=True, max_length=3),
        ),
        migrations.AddField(
            model_name='invoiceline',
            name='net',
            field=djmoney.models.fields.MoneyField(decimal_places=4, default_currency=None, help_text='After discounts, without tax.', max_digits=19, null=True),
        ),
        migrations.AddField(
            model_name='invoiceline',
            name='net_currency',
            field=djmoney.models.fields.CurrencyField(choices=[('AUD', 'Australian Dollar'), ('BRL', 'Brazilian Real'), ('GBP', 'British Pound'), ('CAD', 'Canadian Dollar'), ('DKK', 'Danish Krone'), ('EUR', 'Euro'), ('INR', 'Indian Rupee'), ('JPY', 'Japanese Yen'), ('KWD', 'Kuwaiti Dinar'), ('MXN', 'Mexican Peso'), ('NOK', 'Norwegian Krone'), ('PLN', 'Polish Zloty'), ('SEK', 'Swedish Krona'), ('CHF', 'Swiss Franc'), ('USD', 'US Dollar')], default=None, editable=False, max_length=3, null=True),
        ),
        migrations.RunSQL(
            "UPDATE payments_invoiceline SET net = total - tax_amount, net_currency = total_currency",
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            "UPDATE payments_invoice SET tax_inclusive = false WHERE tax_total <> 0", migrations.RunSQL.noop
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='net',
            field=djmoney.models.fields.MoneyField(decimal_places=4, default_currency=None, help_text='After discounts, without tax.', max_digits=19),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='net_currency',
            field=djmoney.models.fields.CurrencyField(choices=[('AUD', 'Australian Dollar'), ('BRL', 'Brazilian Real'), ('GBP', 'British Pound'), ('CAD', 'Canadian Dollar'), ('DKK', 'Danish Krone'), ('EUR', 'Euro'), ('INR', 'Indian Rupee'), ('JPY', 'Japanese Yen'), ('KWD', 'Kuwaiti Dinar'), ('MXN', 'Mexican Peso'), ('NOK', 'Norwegian Krone'), ('PLN', 'Polish Zloty'), ('SEK', 'Swedish Krona'), ('CHF', 'Swiss Franc'), ('USD', 'US Dollar')], default=None, editable=False, max_length=3),
        ),
        migrations.AddField(
            model_name='invoiceline',
            name='tax_category',
            field=models.CharField(default='digital_services', max_length=30),
        ),
        migrations.AddField(
            model_name='invoiceline',
            name='tax_rate',
            field=models.DecimalField(decimal_places=6, default=0, help_text='0.19 is 19%.', max_digits=7),
        ),
        migrations.AddIndex(
            model_name='invoice',
            index=models.Index(condition=models.Q(('tax_evidence_conclusive', False)), fields=['-created_at'], name='invoice_evidence_to_review'),
        ),
        migrations.AddIndex(
            model_name='invoice',
            index=models.Index(condition=models.Q(('paid_at__isnull', False)), fields=['paid_at'], name='invoice_paid_at'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('subdivision', ''), models.Q(('country__in', ['US', 'CA']), ('subdivision__regex', '^[A-Z0-9]{1,3}$')), _connector='OR'), name='customer_subdivision_us_ca'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('tax_inclusive', True), ('total', django.db.models.expressions.CombinedExpression(models.F('subtotal'), '-', models.F('discount_total')))), models.Q(('tax_inclusive', False), ('total', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('subtotal'), '-', models.F('discount_total')), '+', models.F('tax_total')))), _connector='OR'), name='invoice_total_adds_up'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('tax_status', 'reverse_charge'), _negated=True), ('tax_total', 0), _connector='OR'), name='invoice_reverse_charge_untaxed'),
        ),
        migrations.AddConstraint(
            model_name='invoiceline',
            constraint=models.CheckConstraint(condition=models.Q(('total', django.db.models.expressions.CombinedExpression(models.F('net'), '+', models.F('tax_amount'))), models.Q(('total', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('quantity'), '*', models.F('unit_amount')), '-', models.F('discount_amount'))), ('net', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('quantity'), '*', models.F('unit_amount')), '-', models.F('discount_amount'))), _connector='OR')), name='invoice_line_total_adds_up'),
        ),
        migrations.AddConstraint(
            model_name='invoiceline',
            constraint=models.CheckConstraint(condition=models.Q(('net__gte', 0), ('tax_amount__gte', 0), ('tax_rate__gte', 0), ('tax_rate__lt', 1)), name='invoice_line_not_negative'),
        ),
        migrations.RunPython(_guard_install, _guard_remove),
    ]
