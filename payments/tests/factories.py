import factory

from payments.models import Customer


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@example.com")
    name = factory.Faker("name")
    country = "DE"
    currency = "EUR"
