"""django-q2 entry points for coupons: thin wrappers around the services."""

from coupons.services.generation import code_generation_run


def codes_generate_task(*, generation_id: int) -> int:
    """A large generation, queued after its request committed; safe to run twice (it resumes)."""
    return code_generation_run(generation_id=generation_id).generated
