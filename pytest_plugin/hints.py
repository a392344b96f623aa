"""Hints in a failed test's report for mistakes the mock can recognise.

The commonest way to fail a test against the plugin's mocks is to wait for a task on a
clock that does not move: the fixtures' clock is manual, so a client that polls "until
done" spins (or times out) while the task stays `pending` forever. The journal shows the
polls but not why; this section says it, and shows the call that moves the clock.
"""

from __future__ import annotations

from vidu_lipsync_mock import MockState
from vidu_lipsync_mock.service.tasks import TaskSnapshot

__all__ = ["clock_hint"]

#: Most waiting task ids a hint names.
SHOWN_TASKS = 5


def clock_hint(mock: MockState) -> list[str]:
    """Lines for the report when the client polled clock-driven tasks that wait on a
    manual clock that has not moved since they were submitted; none otherwise."""
    if mock.clock.kind != "manual":
        return []
    now = mock.clock.now()
    stalled = [task for task in mock.tasks() if _waits_on_the_clock(task, now)]
    if not stalled:
        return []
    seconds = max(task.scheduled_end or now for task in stalled) - now
    names = ", ".join(f"{task.task_id} ({task.status.value})" for task in stalled[:SHOWN_TASKS])
    more = f" and {len(stalled) - SHOWN_TASKS} more" if len(stalled) > SHOWN_TASKS else ""
    return [
        f"clock: manual, and it has not moved since {len(stalled)} polled task(s) were "
        f"submitted: {names}{more}.",
        "  A manual clock moves only when the test moves it; polling does not. Finish them:",
        f"    {f'lipsync_mock.advance({seconds:g})':<34}  # clock seconds until the last ends",
        f"    {'lipsync_mock.run_until_terminal()':<34}  # or exactly as far as that",
        "  or let the code under test's sleeps move it: @pytest.mark.lipsync(fast_forward=True)",
        "  (or `with lipsync_mock.fast_forward():`).",
    ]


def _waits_on_the_clock(task: TaskSnapshot, now: float) -> bool:
    return (
        not task.status.terminal
        and task.polls > 0  # someone waits for it
        and task.scheduled_end is not None
        and task.scheduled_end > now
        and task.submitted_at == now
    )
