"""The one object that owns a mock's world: config, clock, models, tasks, media, faults,
rate limits and the journal.

In-process use, the standalone server, the admin API and the pytest fixtures all hold a
`MockState`; nothing is global, so two mocks in one process never see each other's tasks.
Every operation the admin HTTP API offers is a method here, so the two cannot disagree.
`reset()` re-runs the same construction as `__init__`, so a reset mock cannot drift from a
new one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.faults import NO_EFFECTS, Fault, FaultEngine, TaskEffects
from vidu_lipsync_mock.journal.journal import Journal
from vidu_lipsync_mock.media.fetch import FetchPolicy
from vidu_lipsync_mock.media.inputs import InputReader
from vidu_lipsync_mock.media.library import MediaLibrary, ResultMedia
from vidu_lipsync_mock.media.results import TaskResults
from vidu_lipsync_mock.persist import Durability, Parts, open_durability
from vidu_lipsync_mock.service import magic
from vidu_lipsync_mock.service.accounts import Accounts, TeamBalance
from vidu_lipsync_mock.service.admission import Admission
from vidu_lipsync_mock.service.clock import Clock, clock_from_name
from vidu_lipsync_mock.service.errors import ApiError, echo, task_not_found
from vidu_lipsync_mock.service.ids import IdSource
from vidu_lipsync_mock.service.kept import kept_params
from vidu_lipsync_mock.service.keys import KeyPolicy
from vidu_lipsync_mock.service.quotas import RateLimiter, Verdict, concurrency_error
from vidu_lipsync_mock.service.registry import ModelSpec, Registry
from vidu_lipsync_mock.service.store import DuplicateTaskId, TaskStore
from vidu_lipsync_mock.service.tasks import (
    SUCCESS,
    ByClock,
    ByPolls,
    Manual,
    Outcome,
    Progression,
    TaskSnapshot,
    TaskStatus,
)
from vidu_lipsync_mock.service.uploads import Upload, Uploads
from vidu_lipsync_mock.state_verbs import ClockAndFaultVerbs

__all__ = ["Crash", "MockState"]

FAILED = TaskStatus.FAILED


@dataclass(frozen=True)
class Crash:
    """An unexpected exception inside the mock, as the client never sees it."""

    method: str
    path: str
    traceback: str


class MockState(ClockAndFaultVerbs):
    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        clock: Clock | None = None,
        registry: Registry | None = None,
        media: MediaLibrary | None = None,
    ) -> None:
        self.config = config or MockConfig()
        self._injected_clock = clock
        self.registry = registry or Registry.bundled()
        self.media = media or MediaLibrary()
        #: Where tasks, files, balances, rules and the clock are kept across restarts
        #: (`state_path`); without one, a copy that keeps nothing.
        self.durability: Durability = open_durability(self.config.state_path)
        self._build()

    def _build(self) -> None:
        config = self.config
        previous: TaskResults | None = getattr(self, "results", None)
        if previous is not None:
            previous.close()
        self.clock: Clock = self._injected_clock or clock_from_name(
            config.clock, speed=config.speed
        )
        self.keys = KeyPolicy(config.api_keys)
        self.store = TaskStore(max_tasks=config.max_tasks)
        self.default_progression: Progression = self._progression_from_config()
        self.ids = IdSource(config.seed)
        self.accounts = Accounts(
            teams=config.teams,
            starting_credit=config.starting_credit,
            charge=config.billing_amount,
            max_teams=config.max_teams,
            # A hold per task the store keeps, and the submit's own before it makes room.
            max_holds=config.max_tasks + 1,
            outcome_of=self._outcome_of,
        )
        self.uploads = Uploads(
            self.ids,
            max_file_bytes=config.max_upload_bytes,
            retention_seconds=config.retention_seconds,
        )
        self.crashes: list[Crash] = []
        self.faults = FaultEngine(config.seed)
        self.limiter = RateLimiter(config.rate_limit, retry_after_header=config.retry_after_header)
        self.max_concurrent_tasks = config.max_concurrent_tasks
        self.journal = Journal(
            config.journal_max_entries, config.journal_max_bytes, seed=config.seed
        )
        self.admission = Admission(
            self.keys,
            self.limiter,
            self.clock,
            self.registry,
            config.max_body_bytes,
            upload_bytes=config.max_upload_bytes,
        )
        self.results: TaskResults = self._task_results()
        self.store.end_gate = self.results.gate
        self.store.on_dropped = self.accounts.conclude  # a task evicted settles its hold
        if config.profile:
            self._load_profile(config.profile)
        for rule in config.faults:
            self.faults.add(rule)
        parts = Parts(self.store, self.accounts, self.uploads, self.faults, self.clock, self.ids)
        self.durability.restore(parts)  # what changed at run time wins over the config
        for task_id, data in self.durability.saved_results(self.store.__contains__):
            self.results.adopt(task_id, data)  # results built before a restart

    def _task_results(self) -> TaskResults:
        """Real results (docs/media.md): what the inputs may be, the budget, the hooks."""
        config = self.config
        reader = InputReader(
            sample_path=self.media.path,
            upload_data=lambda token, name: self.uploads.linked_data(token, name, self.clock.now()),
            media_root=config.media_root,
            fetch_policy=FetchPolicy.of(
                config.fetch_allow,
                max_bytes=config.fetch_max_bytes,
                timeout=config.fetch_timeout_seconds,
            ),
        )
        return TaskResults(
            reader,
            self.media,
            budget_bytes=config.result_budget_bytes,
            wait_seconds=config.result_wait_seconds,
            alive=lambda task_id: (
                self.store.observe(task_id, self.clock.now(), poll=False) is not None
            ),
            on_crash=lambda task_id, trace: self.record_crash("BUILD", f"task {task_id}", trace),
            on_built=self.durability.result_built if self.durability.enabled else None,
        )

    def _settled(self, snapshot: TaskSnapshot) -> TaskSnapshot:
        """The task once its held end (a result still building) is settled, or as it was
        after `result_wait_seconds`."""
        self.results.wait(snapshot.task_id)
        again = self.store.observe(snapshot.task_id, self.clock.now(), poll=False)
        return snapshot if again is None else again

    def reset(self) -> None:
        """Forget every task, rule, journal entry and runtime change (in the state file
        too); keep the config and an injected clock."""
        self.durability.wipe()
        self._build()

    def close(self) -> None:
        """Let go of the state file, if any (another mock or process may then open it)."""
        self.durability.close()

    def record_crash(self, method: str, path: str, trace: str) -> None:
        """Keep a bug of ours that a client saw as a 500, for the test to re-raise."""
        self.crashes.append(Crash(method, path, trace))

    def _progression_from_config(self) -> Progression:
        config = self.config
        if config.progression == "polls":
            return ByPolls(config.processing_on_poll, config.terminal_on_poll)
        if config.progression == "manual":
            return Manual()
        return ByClock(config.pending_seconds, config.processing_seconds)

    # -- identity -----------------------------------------------------------------------

    def new_task_id(self) -> str:
        """`task-` and 24 lower-case hex digits: unguessable, or the seed's sequence."""
        return self.ids.task_id()

    def same_team(self, owner_key: str, api_key: str | None) -> bool:
        """Whether `api_key` may see what `owner_key` made: the same key or team, any key
        when `share_tasks_across_keys` is on, and the Python API (no key) always."""
        return (
            api_key is None
            or owner_key == api_key
            or self.config.share_tasks_across_keys
            or self.accounts.team_of(owner_key) == self.accounts.team_of(api_key)
        )

    def _outcome_of(self, task_id: str) -> TaskStatus | None:
        """How a task holding credit stands (None when gone), for the accounts."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=False)
        return None if snapshot is None else snapshot.status

    # -- the client's operations --------------------------------------------------------

    def submit(
        self,
        model_id: str,
        params: Mapping[str, Any],
        api_key: str,
        *,
        progression: Progression | None = None,
        faults: Iterable[Fault] = (),
        verdict: Verdict | None = None,
        spec: ModelSpec | None = None,
    ) -> TaskSnapshot:
        """Validate and create a task; `faults` are task faults that fired on this submit.
        `spec` and `verdict` come from an `Admission` that let the request in: the model
        it found, `params` already valid for it, and the quota a concurrency 429 shows."""
        if spec is None:
            spec = self.admission.model(model_id)
            spec.validator.validate(params)
        field = spec.magic_field
        named = magic.field_mentions_mock(params, field)
        fired = [*faults, *magic.task_effects_for(params, field)] if faults or named else ()
        effects = TaskEffects.from_faults(fired) if fired else NO_EFFECTS
        now = self.clock.now()
        if self.max_concurrent_tasks and (
            self.store.unfinished_count(api_key, now) >= self.max_concurrent_tasks
        ):
            raise concurrency_error(
                self.max_concurrent_tasks,
                verdict,
                retry_after_header=self.limiter.retry_after_header,
            )
        if progression is None and effects is NO_EFFECTS:
            policy = self.default_progression
        else:
            policy = self._progression_with(progression or self.default_progression, effects)
        retention = effects.retention_seconds
        if retention is None:
            retention = self.config.retention_seconds
        outcome = SUCCESS if effects.fail_message is None else Outcome(FAILED, effects.fail_message)
        kept = kept_params(params, spec.validator.fields)  # bounded: see `service.kept`
        while True:
            task_id = self.new_task_id()
            self.accounts.reserve(api_key, task_id)  # the provider's 402, creating nothing
            try:
                snapshot = self.store.create(
                    task_id,
                    spec.model_id,
                    api_key,
                    kept,
                    now,
                    policy,
                    retention,
                    outcome=outcome,
                    hidden_polls=effects.hidden_polls,
                    result_fault=effects.result_fault,
                )
                self.durability.task_created(snapshot, policy, retention, outcome)
            except DuplicateTaskId:  # 96 random bits: in practice, never
                self.accounts.release(task_id)
                continue
            except BaseException:  # (a full disk): the client sees a 500, and pays nothing
                self.accounts.release(task_id)
                raise
            if outcome is SUCCESS and spec.card.result.type == "video":
                self.results.start(task_id, params)
            return snapshot

    @staticmethod
    def _progression_with(base: Progression, effects: TaskEffects) -> Progression:
        if effects.stuck == "pending":
            return Manual()
        if effects.stuck == "processing":
            pending = base.pending_seconds if isinstance(base, ByClock) else 0.0
            return ByClock(pending, math.inf)
        if effects.slow_factor != 1.0 and isinstance(base, ByClock):
            return ByClock(
                base.pending_seconds * effects.slow_factor,
                base.processing_seconds * effects.slow_factor,
            )
        return base

    def poll(self, task_id: str) -> TaskSnapshot:
        """What `GET /api/v1/tasks/{id}` sees; counts as a poll."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=True)
        if snapshot is None:
            raise task_not_found(task_id)
        self.durability.polled(snapshot)
        if snapshot.hidden:
            raise task_not_found(task_id)
        held = self.results.held
        return self._settled(snapshot) if held and task_id in held else snapshot

    def result_task(self, task_id: str) -> TaskSnapshot:
        """The task whose result file is asked for; 404 unless it succeeded and is kept."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=False)
        if snapshot is not None and task_id in self.results.held:
            snapshot = self._settled(snapshot)
        if snapshot is None or snapshot.status is not TaskStatus.SUCCESS:
            raise ApiError(404, f"Resource not found: no result file for task '{echo(task_id)}'")
        return snapshot

    def model(self, model_id: str) -> ModelSpec:
        """A served model, or the provider's 404 (decided by the admission, in one place)."""
        return self.admission.model(model_id)

    def result_media(self, model_id: str) -> ResultMedia:
        """What a success of the model hands out: the file, served under its name, and what
        the resource entry says of it (read off the file once)."""
        return self.media.result(self.model(model_id).card.result)

    def task_result(self, task: TaskSnapshot) -> ResultMedia:
        """What a succeeded task hands out: the result built from its own inputs when
        there is one (docs/media.md), else its model's sample."""
        sample = self.result_media(task.model_id)
        built = self.results.media(task.task_id, sample.spec)
        return sample if built is None else built

    # -- the team's account and files ------------------------------------------------

    def balance(self, api_key: str) -> float:
        """What `GET /api/v1/team/balance` answers: the key's team's credit in USD."""
        return float(self.accounts.balance(api_key))

    def account(self, key_or_ref: str) -> TeamBalance:
        """A team's account, named by a key, its fingerprint, or the team's id or name."""
        return self.accounts.account(self.accounts.ref_for(key_or_ref))

    def set_balance(self, key_or_ref: str, amount: Any) -> TeamBalance:
        """Set what a team can spend, named as `account` names it; a negative amount puts
        it in arrears (every submit 402)."""
        return self.accounts.set_balance(self.accounts.ref_for(key_or_ref), amount)

    def upload(self, api_key: str, filename: str | None, data: bytes) -> Upload:
        """Keep a file for the key's team (`POST /api/v1/media/files`)."""
        team = self.accounts.team_of(api_key)
        with self.uploads.slot(team):
            upload = self.uploads.store(team, filename, data, self.clock.now())
        self.durability.upload_stored(upload)
        return upload

    def delete_upload(self, api_key: str, file_id: str) -> Upload:
        """Delete a file of the key's team; any other file answers 404."""
        now = self.clock.now()
        found = self.uploads.get(file_id, now) if self.config.share_tasks_across_keys else None
        team = self.accounts.team_of(api_key) if found is None else found.team
        deleted = self.uploads.delete(team, file_id, now)
        self.durability.upload_deleted(file_id)
        return deleted

    def uploaded(self, token: str, filename: str) -> Upload:
        """The file a key-less upload link names, or 404."""
        upload = self.uploads.get_by_url_token(token, self.clock.now())
        if upload is None or upload.filename != filename:
            raise ApiError(404, "Resource not found: no such file")
        return upload

    # -- tasks, for tests and the admin API -----------------------------------------------

    def task(self, task_id: str) -> TaskSnapshot:
        """Look without counting a poll."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=False)
        if snapshot is None:
            raise task_not_found(task_id)
        return self._settled(snapshot) if task_id in self.results.held else snapshot

    def tasks(self, status: TaskStatus | str | None = None) -> list[TaskSnapshot]:
        snapshots = self.store.snapshots(self.clock.now())
        if status is None:
            return snapshots
        wanted = TaskStatus.parse(status, "tasks(status=...)")
        return [s for s in snapshots if s.status is wanted]

    def force(
        self, task_id: str, status: TaskStatus | str, error_message: str | None = None
    ) -> TaskSnapshot:
        """Push one task straight to a status (`processing`, `success` or `failed`)."""
        wanted = TaskStatus.parse(status, "force()")
        snapshot = self.store.force(task_id, wanted, self.clock.now(), error_message)
        if snapshot is None:
            raise task_not_found(task_id)
        self.durability.task_changed(task_id)  # before its hold is settled: never charged twice
        if snapshot.status.terminal:
            self.accounts.conclude(task_id, succeeded=snapshot.status is TaskStatus.SUCCESS)
        return snapshot

    def delete_task(self, task_id: str) -> None:
        """Forget a task, as if it had expired: polls answer 404. A success it held credit
        for is paid; any other hold goes back to its team."""
        snapshot = self.task(task_id)
        self.accounts.conclude(task_id, succeeded=snapshot.status is TaskStatus.SUCCESS)
        self.store.delete(task_id)

    def set_progression(self, task_id: str, progression: Progression) -> TaskSnapshot:
        snapshot = self.store.set_progression(task_id, progression, self.clock.now())
        if snapshot is None:
            raise task_not_found(task_id)
        self.durability.task_changed(task_id)
        return snapshot
