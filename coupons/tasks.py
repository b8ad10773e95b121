"""django-q2 entry points for coupons: thin wrappers around the services."""

from coupons.services.generation import code_generation_run, code_generations_resume


def codes_generate_task(*, generation_id: int) -> int:
    """A large generation, queued after its request committed; safe to run twice (it resumes)."""
    return code_generation_run(generation_id=generation_id).generated


def code_generations_resume_task(as_of=None) -> int:
    """The sweep for generations whose task was lost; overlapping a live one is harmless."""
    return code_generations_resume(as_of=as_of)
