"""The similar-fix index in the database: every fix step's search tokens, kept beside the steps.

annotate.similarity ranks steps by Okapi BM25 over these tokens (annotate.error_text's normalised error and the
lines the fix changed). Keeping them in tables (StepIndexEntry: one row per step; StepIndexTerm: one row per
step and token, with its count; StepIndexToken: each token's document frequency among shared steps) lets a
search read only its own tokens' counts and postings, through indexes, instead of rebuilding an in-memory index
over every shared step.

Kept up to date by receivers connected in annotate.apps:
- a step written one by one (post_save) is indexed at once; a retraction makes its target uncounted;
- a session whose status changes (saved, or annotate.signals.fix_session_changed on verify and reopen) has its
  entries' `shared` flag set again: shared = counted step of a verified session;
- an import (annotate.signals.data_imported, inside the import's transaction) indexes the steps it
  bulk-inserted and sets `shared` again wherever a session's status changed.
Steps bulk-inserted by other code (benchmarks, tests) are indexed by `sync()`; `rebuild()` (the management
command `rebuild_similarity_index`) starts over, e.g. after a change to the tokenizer or the taxonomy.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence

from django.apps import apps as global_apps
from django.db import connections, transaction
from django.db.models import Case, CharField, F, Q, Value, When
from django.db.models.functions import Length

from annotate import error_text
from annotate.models import SessionStatus, StepCategory
from annotate.taxonomy import suggest_category
from t2j_site import planner_statistics

VERIFIED = SessionStatus.VERIFIED.value

MAX_TOKEN_LENGTH = 100  # longer "words" (minified data, hashes) are left out of the index
# StepIndexToken rows that hold the shared corpus's totals (a token never holds a space): BM25's N and the sum of
# the document lengths (for the average), kept with the document frequencies so a search need not count.
STEPS_TOTAL = " steps"
LENGTH_TOTAL = " length"
# ... and the index's generation: it changes (in the same statement) with every change to the shared corpus, so a
# ranking cached under it (annotate.similarity.ranked_steps) is reached only while it is still what the SQL would
# give. It starts at a random value, not 0: a database emptied and filled again (a test's flush, a rebuild) must
# not meet the rankings cached for an earlier index of the same generation number.
GENERATION = " generation"
_GENERATION_STARTS = 2**30  # a random start below this; +1 per change stays within a 32-bit integer
_CHUNK = 1000  # steps read and written per batch
_INDEX_MODELS = ("StepIndexEntry", "StepIndexTerm", "StepIndexToken")
_ROWS_PER_INSERT = 500


def step_tokens(error: str, error_code: str = "", fixed_code: str = "") -> list[str]:
    """What a step is indexed by: its error's tokens and those of the lines its fix changed."""
    removed, added = error_text.changed_lines(error_code, fixed_code)
    return tokenize(error) + tokenize("\n".join(removed + added))


def tokenize(text: str) -> list[str]:
    """Search tokens of a text (an error, a snippet, a prompt): normalised, then split into words."""
    return error_text.tokens(error_text.normalize(text))


def shared_steps(*, using: str = "default") -> int:
    """How many steps are shared (counted steps of verified sessions), as the index keeps it: one row read."""
    StepIndexToken = global_apps.get_model("annotate", "StepIndexToken")
    return StepIndexToken.objects.using(using).filter(token=STEPS_TOTAL).values_list("df", flat=True).first() or 0


def generation(*, using: str = "default") -> int:
    """The index's generation (see GENERATION; 0 before its first change): one row read."""
    StepIndexToken = global_apps.get_model("annotate", "StepIndexToken")
    return StepIndexToken.objects.using(using).filter(token=GENERATION).values_list("df", flat=True).first() or 0


def sync(step_ids: Iterable[int] | None = None, *, apps=global_apps, using: str = "default") -> int:
    """Index the steps (all, or those of `step_ids`) that have no entry yet; returns how many were indexed."""
    FixStep = apps.get_model("annotate", "FixStep")
    steps = FixStep.objects.using(using).filter(index_entry__isnull=True)
    if step_ids is not None:
        steps = steps.filter(pk__in=list(step_ids))
    rows = (
        steps.order_by("pk")
        .annotate(
            fix_info_length=Length("fix_info"),
            # The programs are read only for a step without a category (its category is then suggested).
            before=Case(When(category="", then=F("code_before")), default=Value(""), output_field=CharField()),
            after=Case(When(category="", then=F("code_after")), default=Value(""), output_field=CharField()),
        )
        .values_list(
            "pk",
            "session_id",
            "session__status",
            "session__translation__sample_id",
            "retracts_id",
            "retracted_by",
            "error",
            "error_code",
            "fixed_code",
            "category",
            "fix_info_length",
            "before",
            "after",
        )  # fmt: skip
    )
    count = 0
    batch: list[tuple] = []
    with transaction.atomic(using=using):
        for row in rows.iterator(chunk_size=_CHUNK):
            batch.append(row)
            if len(batch) >= _CHUNK:
                count += _write(batch, apps, using)
                batch = []
        count += _write(batch, apps, using)
    if count >= _CHUNK:
        # Thousands of new postings (an import, a rebuild): without fresh statistics PostgreSQL plans the
        # searches over them as if the tables were still small until autovacuum runs (seen at L: a T2J prompt
        # preview in 0.4 s instead of 0.07 s).
        planner_statistics.refresh(*(apps.get_model("annotate", name) for name in _INDEX_MODELS), using=using)
    return count


def refresh_sessions(session_ids: Iterable[int], *, apps=global_apps, using: str = "default") -> None:
    """Set `shared` again on the entries (and postings) of these sessions, from their status now."""
    FixSession = apps.get_model("annotate", "FixSession")
    StepIndexEntry = apps.get_model("annotate", "StepIndexEntry")
    StepIndexTerm = apps.get_model("annotate", "StepIndexTerm")
    statuses = dict(FixSession.objects.using(using).filter(pk__in=list(session_ids)).values_list("pk", "status"))
    for verified in (True, False):
        ids = [pk for pk, status in statuses.items() if (status == VERIFIED) == verified]
        if not ids:
            continue
        entries = StepIndexEntry.objects.using(using).filter(session_id__in=ids, counted=True).exclude(shared=verified)
        changed = dict(entries.values_list("pk", "length"))
        for start in range(0, len(changed), _CHUNK):
            chunk = list(changed)[start : start + _CHUNK]
            tokens = StepIndexTerm.objects.using(using).filter(entry_id__in=chunk).values_list("token", flat=True)
            counts = Counter(tokens) + _totals([changed[pk] for pk in chunk])
            _count_documents(counts, 1 if verified else -1, apps, using)
            StepIndexEntry.objects.using(using).filter(pk__in=chunk).update(shared=verified)
            StepIndexTerm.objects.using(using).filter(entry_id__in=chunk).update(shared=verified)


def refresh_all(*, apps=global_apps, using: str = "default") -> None:
    """Set `shared` again wherever a session's status no longer matches its entries (after an import)."""
    StepIndexEntry = apps.get_model("annotate", "StepIndexEntry")
    stale = (
        StepIndexEntry.objects.using(using)
        .filter(counted=True)
        .filter(Q(~Q(session__status=VERIFIED), shared=True) | Q(shared=False, session__status=VERIFIED))
        .values_list("session_id", flat=True)
        .distinct()
    )
    refresh_sessions(list(stale), apps=apps, using=using)


def rebuild(*, apps=global_apps, using: str = "default") -> int:
    """Drop the whole index and index every step again; returns the number of steps indexed."""
    with transaction.atomic(using=using):
        for model in ("StepIndexTerm", "StepIndexEntry", "StepIndexToken"):
            apps.get_model("annotate", model).objects.using(using).all().delete()
        return sync(apps=apps, using=using)


def _write(rows: Sequence[tuple], apps, using: str) -> int:
    """Entries and postings for a batch of step rows (as `sync` reads them)."""
    if not rows:
        return 0
    StepIndexEntry = apps.get_model("annotate", "StepIndexEntry")
    StepIndexTerm = apps.get_model("annotate", "StepIndexTerm")
    entries, postings, retracted = [], [], []
    for (pk, session_id, status, sample_id, retracts_id, retracted_by, error, error_code, fixed_code, category,
         fix_info_length, before, after) in rows:  # fmt: skip
        counts = Counter(step_tokens(error, error_code, fixed_code))
        length = max(1, sum(counts.values()))  # an empty step counts as one token, so no length is zero
        counted = retracts_id is None and retracted_by is None
        shared = counted and status == VERIFIED
        entries.append(
            StepIndexEntry(
                step_id=pk,
                session_id=session_id,
                sample_id=sample_id,
                counted=counted,
                shared=shared,
                exception_type=error_text.exception_type(error_text.normalize(error))[:200],
                category=category or suggest_category(error, before, after) or StepCategory.OTHER,
                length=length,
                size=len(error) + len(error_code) + len(fixed_code) + (fix_info_length or 0),
            )  # fmt: skip
        )
        postings += [(pk, token, tf, length, shared) for token, tf in counts.items() if len(token) <= MAX_TOKEN_LENGTH]
        if retracts_id is not None:
            retracted.append(retracts_id)
    StepIndexEntry.objects.using(using).bulk_create(entries)
    _insert(StepIndexTerm._meta.db_table, ("entry_id", "token", "tf", "doc_length", "shared"), postings, using)
    counts = Counter(token for _, token, _, _, shared in postings if shared)
    _count_documents(counts + _totals([entry.length for entry in entries if entry.shared]), 1, apps, using)
    if retracted:  # a retraction makes the step it retracts no longer counted, hence not shared
        unshared = StepIndexTerm.objects.using(using).filter(entry_id__in=retracted, shared=True)
        lengths = StepIndexEntry.objects.using(using).filter(pk__in=retracted, shared=True).values_list("length")
        counts = Counter(unshared.values_list("token", flat=True)) + _totals([length for (length,) in lengths])
        _count_documents(counts, -1, apps, using)
        StepIndexEntry.objects.using(using).filter(pk__in=retracted).update(counted=False, shared=False)
        StepIndexTerm.objects.using(using).filter(entry_id__in=retracted).update(shared=False)
    return len(entries)


def _totals(lengths: list[int]) -> Counter:
    return Counter({STEPS_TOTAL: len(lengths), LENGTH_TOTAL: sum(lengths)})


def _count_documents(tokens: Counter, sign: int, apps, using: str) -> None:
    """Add `sign` × the given counts to the tokens' document frequencies, and move the generation on (an upsert,
    the same SQL on SQLite and PostgreSQL; concurrent writers add up, none overwrites another)."""
    if not tokens:
        return
    table = connections[using].ops.quote_name(apps.get_model("annotate", "StepIndexToken")._meta.db_table)
    # In token order: concurrent writers lock the rows in the same order. The generation row is inserted with a
    # random start and then counts its changes.
    rows = [(token, sign * count) for token, count in tokens.items()]
    rows = sorted([*rows, (GENERATION, 1 + secrets.randbelow(_GENERATION_STARTS))])
    with connections[using].cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            cursor.execute(
                f"INSERT INTO {table} (token, df) VALUES {', '.join(['(%s, %s)'] * len(chunk))} "
                f"ON CONFLICT (token) DO UPDATE SET df = {table}.df "
                f"+ CASE WHEN excluded.token = %s THEN 1 ELSE excluded.df END",
                [value for row in chunk for value in row] + [GENERATION],
            )


def _insert(table: str, columns: Sequence[str], rows: Sequence[tuple], using: str) -> None:
    """Multi-row INSERTs: millions of postings go in far faster than through model instances."""
    connection = connections[using]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            cursor.execute(head + ", ".join([one] * len(chunk)), [value for row in chunk for value in row])


# --- receivers (connected in annotate.apps) ---------------------------------------------------------------------


def step_saved(sender, instance, created: bool = False, raw: bool = False, using: str = "default", **kwargs) -> None:
    if created and not raw:
        sync([instance.pk], using=using)


def session_saved(sender, instance, created: bool = False, raw: bool = False, update_fields=None,
                  using: str = "default", **kwargs) -> None:  # fmt: skip
    # A new session has no steps yet; a save that leaves the status alone changes nothing shared.
    if created or raw or (update_fields is not None and "status" not in update_fields):
        return
    refresh_sessions([instance.pk], using=using)


def session_changed(sender, session, **kwargs) -> None:
    refresh_sessions([session.pk])


def data_imported(sender, **kwargs) -> None:
    sync()
    refresh_all()
