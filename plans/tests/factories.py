import factory

from plans.services import plan_create


class PlanFactory(factory.Factory):
    """Plans made through the service, so they are valid and carry their prices."""

    class Meta:
        model = dict

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    kind = "recurring"
    interval = "month"
    prices = factory.LazyFunction(
        lambda: [{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}]
    )

    @classmethod
    def _create(cls, model_class, **kwargs):
        return plan_create(**kwargs)

    _build = _create
