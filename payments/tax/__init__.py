"""Tax regions, enabled separately: registrations, dated rates, place of supply and its evidence, and
the arithmetic of a line's tax. It knows no invoice: payments asks it with plain values (country,
evidence, tax id, amounts, behaviour) and gets plain values back (payments/tax/rules.py)."""
