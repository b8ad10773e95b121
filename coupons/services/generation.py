"""Unique codes for bulk campaigns, written in large batches (COPY on PostgreSQL), and their export.

The unique index on `coupons_couponcode.code` has the last word: every batch is inserted with
ON CONFLICT DO NOTHING, what went in is counted, and collisions are redrawn until exactly `count`
new codes exist, so concurrent generations never duplicate and their totals stay exact.

Codes must not be guessable: a template's space holds at most one code per million of its
possible values (`code_space_capacity`), counting every campaign on that template and what their
queued generations will add; the check runs under a lock on the template, in the transaction that
writes the codes (or queues them), so generations at once cannot pass it together.
"""

import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django_q.tasks import async_task

from coupons.models import CodeGeneration, Coupon, CouponCode
from coupons.representations import coupon_payload
from coupons.services.campaigns import CODE_ALPHABET, GUESSES_PER_CODE, code_space
from integrations.kernel import clock
from integrations.kernel.api.idempotency import idempotency_resource_record, idempotency_resumed_resource
from integrations.kernel.audit import audit_record, audit_suppressed
from integrations.kernel.db import lock_name
from integrations.kernel.errors import DomainError, InvalidRequest, Unprocessable
from integrations.kernel.ids import new_id
from integrations.services import event_emit

MAX_CODES_PER_REQUEST = 1_000_000
QUEUE_ABOVE = 10_000  # larger requests run as a django-q2 task
BATCH_SIZE = 250_000
# The template's space is full when draws keep adding nothing: this many batches in a row and
# this many codes drawn in them (a last batch of a few codes can miss by chance in a crowded space).
_MAX_IDLE_ROUNDS = 5
_MIN_IDLE_DRAWS = 1000
_MAX_DEADLOCKS = 20

# Bytes mapped onto the alphabet by rejection: a byte at or above 248 (31 * 8) would favour the
# first letters, so it is dropped rather than folded.
_ACCEPT_BELOW = 256 - 256 % len(CODE_ALPHABET)
_TO_ALPHABET = bytes(ord(CODE_ALPHABET[b % len(CODE_ALPHABET)]) if b < _ACCEPT_BELOW else 0 for b in range(256))
_REJECTED = bytes(range(_ACCEPT_BELOW, 256))
# new_id's 80 random bits are its last 16 base32 characters (Crockford, lower case).
_ID_RANDOM_CHARS = 16
_TO_BASE32 = bytes(ord("0123456789abcdefghjkmnpqrstvwxyz"[b & 31]) for b in range(256))


# --- Drawing codes ------------------------------------------------------------------------------


def _random_letters(n: int) -> str:
    """n characters of CODE_ALPHABET, each uniform and independent, from the OS's CSPRNG. The same
    draw as coupons.services.campaigns.code_from_template, done for a whole batch in C instead of per char."""
    out = b""
    while len(out) < n:
        wanted = n - len(out)
        out += secrets.token_bytes(wanted * 256 // _ACCEPT_BELOW + 64).translate(_TO_ALPHABET, _REJECTED)
    return out[:n].decode("ascii")


def codes_draw(*, template: str, n: int) -> list[str]:
    """n random codes shaped by `template` ("SPRING-********": each '*' a random letter)."""
    fixed = re.split(r"\*+", template)
    runs = [len(run) for run in re.findall(r"\*+", template)]
    width = sum(runs)
    letters = _random_letters(n * width)
    if len(runs) == 1:
        head, tail = fixed
        return [head + letters[i : i + width] + tail for i in range(0, n * width, width)]
    pattern = "%s".join(fixed)  # templates hold only A-Z, 0-9, '-', '_' and '*': no '%' to escape
    offsets, start = [], 0
    for length in runs:
        offsets.append((start, start + length))
        start += length
    return [pattern % tuple(letters[i + a : i + b] for a, b in offsets) for i in range(0, n * width, width)]


def _ids(n: int) -> list[str]:
    """n ids in new_id("code")'s format: its time-ordered head (now, to the millisecond) and 80
    fresh random bits each. Drawing them per row costs 3 s a million."""
    head = new_id("code")[:-_ID_RANDOM_CHARS]
    tails = secrets.token_bytes(n * _ID_RANDOM_CHARS).translate(_TO_BASE32).decode("ascii")
    return [head + tails[i : i + _ID_RANDOM_CHARS] for i in range(0, n * _ID_RANDOM_CHARS, _ID_RANDOM_CHARS)]


# --- Writing them -------------------------------------------------------------------------------

_TEMP_TABLE = "coupon_codes_incoming"
# A freshly truncated temp table is scanned in the order it was written: code order.
_INSERT_SQL = (
    "INSERT INTO coupons_couponcode "
    "(id, coupon_id, code, shared, state, redeemed_by_id, redeemed_at, subscription_id, created_at) "
    "SELECT id, %s, code, false, %s, NULL, NULL, '', %s FROM coupon_codes_incoming "
    "ON CONFLICT (code) DO NOTHING"
)


def _insert_postgresql(*, coupon: Coupon, codes: list[str], created_at) -> int:
    """COPY into a temp table, then one INSERT ... SELECT that skips codes taken (by anyone,
    committed or in flight); returns how many went in."""
    # Rows in code order with ids ascending alongside: every index then takes the batch in one
    # sweep instead of a million random descents (2.5x faster for a million codes).
    codes = sorted(codes)
    ids = sorted(_ids(len(codes)))
    data = "".join(f"{code_id}\t{code}\n" for code_id, code in zip(ids, codes, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_TEMP_TABLE} (id varchar(40), code varchar(64)) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_TEMP_TABLE}")
        with cursor.cursor.copy(f"COPY {_TEMP_TABLE} (id, code) FROM STDIN") as copy:
            copy.write(data)
        cursor.execute(_INSERT_SQL, [coupon.pk, CouponCode.State.REDEEMABLE, created_at])
        return cursor.rowcount


def _insert_portable(*, coupon: Coupon, codes: list[str], created_at) -> int:
    """bulk_create skipping conflicts; what went in is counted from the table (the transaction
    holds the database's write lock on SQLite, so the difference is ours alone)."""
    before = CouponCode.objects.filter(coupon=coupon).count()
    CouponCode.objects.bulk_create(
        [
            CouponCode(id=code_id, coupon=coupon, code=code)
            for code_id, code in zip(_ids(len(codes)), codes, strict=True)
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )
    return CouponCode.objects.filter(coupon=coupon).count() - before


def code_space_capacity(template: str) -> int:
    """The most codes a template may hold: one random guess in GUESSES_PER_CODE may hit, no more."""
    return code_space(template) // GUESSES_PER_CODE


def _codes_reserved(*, template: str, besides: CodeGeneration | None = None) -> int:
    """Codes in the template's space: those written (by every campaign on this template) and those
    that queued or running generations will still write (`besides` excepted: the one running)."""
    written = CouponCode.objects.filter(coupon__code_template=template).count()
    pending = CodeGeneration.objects.filter(
        coupon__code_template=template, status__in=[CodeGeneration.Status.QUEUED, CodeGeneration.Status.RUNNING]
    )
    if besides is not None:
        pending = pending.exclude(pk=besides.pk)
    return written + sum(
        requested - generated for requested, generated in pending.values_list("requested", "generated")
    )


def codes_generate_check(*, coupon: Coupon, count: object, besides: CodeGeneration | None = None) -> int:
    """The request's count, once the campaign can take that many new codes. Inside a transaction it
    locks the template's space first, so the answer holds until that transaction ends."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CODES_PER_REQUEST:
        raise InvalidRequest(
            f"count is a whole number from 1 to {MAX_CODES_PER_REQUEST:,}.", code="parameter_invalid", param="count"
        )
    if coupon.kind != Coupon.Kind.BULK or not coupon.code_template:
        raise Unprocessable(
            "Only bulk campaigns have generated codes; a single-code campaign has its one code.",
            code="coupon_not_bulk",
        )
    template = coupon.code_template
    if transaction.get_connection().in_atomic_block:
        lock_name(f"coupon-code-space:{template}")
    capacity = code_space_capacity(template)
    reserved = _codes_reserved(template=template, besides=besides)
    if reserved + count > capacity:
        left = max(0, capacity - reserved)
        raise Unprocessable(
            f"The template {template} may hold {capacity:,} codes at most (more and a random guess could "
            f"hit one in a million); it has {reserved:,} with those queued, so {left:,} more at most. "
            f"Use a template with more '*' random positions for {count:,} codes.",
            code="code_template_exhausted",
            param="count",
        )
    return count


@transaction.atomic
def codes_generate(
    *,
    coupon: Coupon,
    count: int,
    progress: Callable[[int, int], None] | None = None,
    generation: CodeGeneration | None = None,
) -> int:
    """Exactly `count` new unique codes for a bulk campaign, in batches of BATCH_SIZE; `progress`
    hears (done, count) after each batch. One `coupon.codes_generated` event. All or nothing.
    `generation`: the background generation this is a batch of (its own remainder is not counted
    against the template twice)."""
    count = codes_generate_check(coupon=coupon, count=count, besides=generation)
    with audit_suppressed():  # the codes go in bulk: one summary entry below, not one per code
        done = _codes_insert(coupon=coupon, count=count, progress=progress)
    event_emit(type="coupon.codes_generated", payload={"coupon": coupon_payload(coupon), "count": done})
    if generation is None:  # a background generation writes its entry once, when it ends
        audit_record(
            action="coupon.codes_generated", object_type="coupon", object_id=coupon.pk, changes={"codes": [None, done]}
        )
    return done


def _codes_insert(*, coupon: Coupon, count: int, progress: Callable[[int, int], None] | None) -> int:
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_portable
    created_at = clock.now()
    done, idle, missed, deadlocks = 0, 0, 0, 0
    while done < count:
        batch = min(BATCH_SIZE, count - done)
        codes = codes_draw(template=coupon.code_template, n=batch)
        try:
            with transaction.atomic():  # a savepoint: a batch lost to a deadlock is redrawn
                added = insert(coupon=coupon, codes=codes, created_at=created_at)
        except OperationalError as error:
            # Another generation holds (uncommitted) codes we drew while we hold some of its: the
            # database picks one of us; the loser drops this batch and carries on.
            if getattr(error.__cause__, "sqlstate", None) != "40P01" or deadlocks >= _MAX_DEADLOCKS:
                raise
            deadlocks += 1
            continue
        done += added
        idle, missed = (0, 0) if added else (idle + 1, missed + len(codes))
        if idle >= _MAX_IDLE_ROUNDS and missed >= _MIN_IDLE_DRAWS:
            raise Unprocessable(
                f"No free codes left in the template {coupon.code_template}.", code="code_template_exhausted"
            )
        if progress is not None:
            progress(done, count)
    return done


_INLINE_DONE = "codes-generated:"


def codes_request(*, coupon: Coupon, count: object) -> CodeGeneration | int:
    """The API's request for codes: up to QUEUE_ABOVE made now (how many), more queued (the
    generation). A retry that took over the Idempotency-Key of a run killed after it committed
    gets what that run made, never a second batch of codes."""
    made = idempotency_resumed_resource()
    if made.startswith(_INLINE_DONE):
        return int(made.removeprefix(_INLINE_DONE))
    if made:
        generation = CodeGeneration.objects.filter(coupon=coupon, public_id=made).first()
        if generation is not None:
            return generation
    if isinstance(count, int) and not isinstance(count, bool) and count > QUEUE_ABOVE:
        return codes_generate_enqueue(coupon=coupon, count=count)
    with transaction.atomic():
        done = codes_generate(coupon=coupon, count=count)
        idempotency_resource_record(f"{_INLINE_DONE}{done}")
    return done


@transaction.atomic
def codes_generate_enqueue(*, coupon: Coupon, count: int) -> CodeGeneration:
    """Check now (under the template's lock, the request then counts as reserved), record the
    request, generate in the django-q2 worker once the transaction commits (progress on the
    CodeGeneration row)."""
    count = codes_generate_check(coupon=coupon, count=count)
    generation = CodeGeneration.objects.create(coupon=coupon, requested=count)
    idempotency_resource_record(generation.public_id)
    transaction.on_commit(lambda: async_task("coupons.tasks.codes_generate_task", generation_id=generation.pk))
    return generation


def code_generation_run(*, generation_id: int) -> CodeGeneration:
    """The worker's side: batches of BATCH_SIZE, each committed with the progress it makes, so the
    admin sees it grow and a second run of the task resumes instead of adding more. One audit entry
    when it ends (none per batch)."""
    with audit_suppressed():
        return _code_generation_batches(generation_id=generation_id)


def code_generations_resume(*, as_of=None) -> int:
    """The sweep: generations still queued or running after the task timeout, their task lost (a
    worker killed with it in hand: a Redis broker hands tasks out without acknowledgement), each run
    to its end. Safe beside a task still running: every batch is counted under the row's lock.
    `as_of`: the sweep as it will run then (the scale-out rehearsal's later ticks)."""
    stale = CodeGeneration.objects.filter(
        status__in=[CodeGeneration.Status.QUEUED, CodeGeneration.Status.RUNNING],
        created_at__lt=(as_of or clock.now()) - timedelta(seconds=settings.Q_CLUSTER["timeout"]),
    ).order_by("created_at")
    resumed = 0
    for generation_id in stale.values_list("pk", flat=True):
        code_generation_run(generation_id=generation_id)
        resumed += 1
    return resumed


def _generation_audit(generation: CodeGeneration) -> None:
    audit_record(
        action=f"code_generation.{generation.status}",
        object_type="code_generation",
        object_id=generation.public_id,
        changes={
            "coupon": [None, generation.coupon_id],
            "requested": [None, generation.requested],
            "generated": [None, generation.generated],
            "error": [None, generation.error],
        },
    )


def _code_generation_batches(*, generation_id: int) -> CodeGeneration:
    CodeGeneration.objects.filter(pk=generation_id, status=CodeGeneration.Status.QUEUED).update(
        status=CodeGeneration.Status.RUNNING
    )
    while True:
        with transaction.atomic():
            generation = CodeGeneration.objects.select_for_update().select_related("coupon").get(pk=generation_id)
            left = generation.requested - generation.generated
            if generation.status in (CodeGeneration.Status.SUCCEEDED, CodeGeneration.Status.FAILED):
                return generation
            if left <= 0:
                generation.status, generation.finished_at = CodeGeneration.Status.SUCCEEDED, clock.now()
                generation.save(update_fields=["status", "finished_at"])
                _generation_audit(generation)
                return generation
            try:
                added = codes_generate(coupon=generation.coupon, count=min(BATCH_SIZE, left), generation=generation)
            except DomainError as error:
                generation.status, generation.error, generation.finished_at = (
                    CodeGeneration.Status.FAILED,
                    error.message[:255],
                    clock.now(),
                )
                generation.save(update_fields=["status", "error", "finished_at"])
                _generation_audit(generation)
                return generation
            CodeGeneration.objects.filter(pk=generation_id).update(generated=F("generated") + added)


# --- Export -------------------------------------------------------------------------------------

EXPORT_HEADER = ("code", "state", "redeemed_by", "redeemed_at")


def codes_export_rows(*, coupon: Coupon) -> Iterator[tuple]:
    """The CSV export: the header, then (code, state, redeemed_by external_id, redeemed_at ISO)
    per code, read in chunks so a million codes stream in constant memory."""
    yield EXPORT_HEADER
    rows = (
        CouponCode.objects.filter(coupon=coupon)
        .order_by("code")
        .values_list("code", "state", "redeemed_by__external_id", "redeemed_at")
    )
    for code, state, external_id, redeemed_at in rows.iterator(chunk_size=5000):
        yield code, state, external_id or "", redeemed_at.isoformat() if redeemed_at else ""
