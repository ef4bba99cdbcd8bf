"""Bring answers out of the kernel as tagged JSON, and call student functions there.

After the student's cells have run, the grader loads its agent
(:mod:`grader.kernel.agent`) into the kernel as a module of its own, then asks it, in one
request (:meth:`Harvester.collect`), to encode each contract name and to make every
function check's calls. Results come back only as display data of the grader's MIME
type carrying this run's random nonce; anything a student prints is ignored.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.answers import MISSING, CallableAnswer, CallOutcome, Rejected
from grader.calls import Call
from grader.kernel import wire
from grader.kernel.agent import RESULT_MIME, encode
from grader.kernel.codec import DecodeBudget, decode_answer
from grader.kernel.execute import KernelSession
from grader.settings import DEFAULTS

_LOADER = '''\
def _grader_load(path):
    import importlib.util, os, sys
    # Kept in sys.modules, so a student's %reset or `del _grader_agent` does not lose it.
    module = sys.modules.get("grader_kernel_agent")
    if module is not None:
        return module
    saved = list(sys.path)
    # A student's json.py or numpy.py beside the notebook must not stand in for ours.
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]
    try:
        spec = importlib.util.spec_from_file_location("grader_kernel_agent", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    sys.modules["grader_kernel_agent"] = module
    return module
_grader_agent = _grader_load({path!r})
del _grader_load
'''


class Harvester:
    """Talks to the agent in one kernel session, with one nonce for the whole run.

    Everything it decodes (answers, then the results of calls) shares one
    :class:`~grader.kernel.codec.DecodeBudget`, as the submission's answers share their size.
    """

    def __init__(self, session: KernelSession) -> None:
        self.session = session
        self.nonce = secrets.token_hex(16)
        self._loaded = False
        guard = getattr(session, "guard", None)
        self.limits = guard.limits if guard is not None else wire.Limits.of(DEFAULTS)
        self.budget = budget_of(self.limits)
        # What crossed, exactly as it came (tagged JSON), for a regrade without a kernel
        # (grader.transcript): the answers (None when none could be read, with the reason
        # every answer is rejected for), and each call()'s items, in order.
        self.crossed: dict[str, Any] | None = {}
        self.refused = ""
        self.last_items: list[Any] = []

    def load(self) -> bool:
        """Load the agent now, before the student's cells, and cap their output at source."""
        # One character past the budget, so that the grader's own cap still sees the excess.
        budget = self.session.settings.max_output_bytes + 1
        status, _ = self.session.run_code(
            self._loader() + f"_grader_agent._grader_prepare({budget})\n",
            timeout=self.session.settings.cell_timeout)
        self._loaded = status == "ok"
        return self._loaded

    def _loader(self) -> str:
        """Code that (re)binds ``_grader_agent``, loading the agent if it is not loaded."""
        assert self.session.space is not None, "the session has not started"
        return _LOADER.format(path=str(self.session.space.agent))

    def _ensure_agent(self) -> bool:
        if not self._loaded:
            status, _ = self.session.run_code(self._loader(),
                                              timeout=self.session.settings.cell_timeout)
            self._loaded = status == "ok"
        return self._loaded

    def _parts(self, outputs: Iterable[Any]) -> dict[int | None, Any]:
        """This run's payloads by part: None the answers, ``i`` the calls of check ``i``.

        The first of each part counts: the agent's own, for what it sent before any of
        the student's code ran in that request. Student code running in check ``i - 1``
        that found the nonce (in a frame, say) could send part ``i`` first; that part is
        the calls of the student's own function, so it changes only the student's own
        verdict.
        """
        parts: dict[int | None, Any] = {}
        for out in outputs:
            found = self._part(out)
            if found is not None:
                parts.setdefault(found[0], found[1])
        return parts

    def _part(self, out: Any) -> tuple[int | None, Any] | None:
        """``(part, payload)`` when ``out`` is one of this run's payloads, else None."""
        if not isinstance(out, dict) or out.get("output_type") != "display_data":
            return None
        data = out.get("data")
        data = data.get(RESULT_MIME) if isinstance(data, dict) else None
        if isinstance(data, str):  # some front ends keep JSON as text
            if self.nonce not in data:
                return None  # not this run's: never decoded
            try:
                data = wire.loads(data, self.limits)
            except ValueError:  # MessageRefused included: such text is not read
                return None
            out["data"] = {RESULT_MIME: data}  # decoded once, for _parts to read again
        if not isinstance(data, dict) or data.get("nonce") != self.nonce:
            return None
        part = data.get("call")
        if part is None or (isinstance(part, int) and not isinstance(part, bool)):
            return part, data.get("payload")
        return None

    def _watch(self, checks: Sequence[CheckCalls]) -> Callable[[Any], float | None]:
        """For :meth:`KernelSession.run_code`: how long the part after each one may take.

        The answers come first; then each check whose answer crossed as a function, in
        order, with the limit its own request would have.
        """
        limits = [_cell_limit(self._per_call(timeout), len(calls))
                  for _, calls, timeout in checks]
        seen: set[int | None] = set()
        pending: list[int] = []  # the function checks whose calls have not come back

        def arrived(out: Any) -> float | None:
            found = self._part(out)
            if found is None or found[0] in seen:
                return None
            part, payload = found
            seen.add(part)
            if part is None:
                pending[:] = [i for i, (name, _, _) in enumerate(checks)
                              if isinstance(payload, dict) and _is_function(payload.get(name))]
            else:
                pending[:] = [i for i in pending if i > part]
            return limits[pending[0]] if pending else _cell_limit(0, 0)

        return arrived

    def _payload(self, outputs: Iterable[Any]) -> Any:
        return self._parts(outputs).get(None)

    def answers(self, names: Sequence[str]) -> dict[str, Any]:
        """Decode each name's value; :data:`MISSING` or :class:`Rejected` where none."""
        return self.collect(names, ())[0]

    def collect(self, names: Sequence[str], checks: Sequence[CheckCalls]
                ) -> tuple[dict[str, Any], list[Made | None]]:
        """The answers, and the calls of every check whose answer is a function, in one request.

        ``checks`` are each function check's ``(name, calls, call_timeout)`` in the order
        the calls are made; the result has, for each, None when its answer is not a
        function (no calls), else what :meth:`call` gives and its per-call limit. The agent
        makes each check's calls as :meth:`call` would, with that check's limits and its
        hung-call rule; a check whose results did not come back (the request ran out of
        time during it, or the kernel died) fails as :meth:`call` fails it, and the ones
        after it are asked for one by one, so that a hung check costs the others nothing.
        """
        if not names:
            return {}, [None] * len(checks)
        if not self._ensure_agent():
            return (self._refuse(names, "the grader could not read the kernel's answers"),
                    [None] * len(checks))
        request = json.dumps([{"name": name, "calls": _wire(calls),
                               "timeout": self._per_call(timeout)}
                              for name, calls, timeout in checks])
        # The agent keeps the answers within the submission's budget, measured as the
        # grader's pre-scan measures them (wire.prescan): bytes and JSON values.
        code = self._loader() + (f"_grader_agent._grader_collect(globals(), {self.nonce!r}, "
                                 f"{json.dumps(list(names))}, {self.limits.answer_bytes}, "
                                 f"{self.limits.answer_nodes}, {json.dumps(request)})")
        # Each part is held to its own limit as it comes (self._watch); the request's
        # limit, the harvest's and every check's, only backs that up.
        harvest = self.session.settings.cell_timeout
        limit = harvest + sum(
            _cell_limit(self._per_call(timeout), len(calls)) for _, calls, timeout in checks)
        status, outputs = self.session.run_code(code, timeout=limit,
                                                parts=self._watch(checks), first=harvest)
        parts = self._parts(outputs)
        payload = parts.get(None)
        if not isinstance(payload, dict):
            stopped = getattr(self.session, "limit_hit", "")
            reason = (f"the kernel was stopped before its answers could be read: {stopped}"
                      if stopped else
                      "the kernel stopped before its answers could be read" if status != "ok"
                      else "the kernel did not return the answers")
            return self._refuse(names, reason), [None] * len(checks)
        self.crossed = {n: payload.get(n, {"t": "missing"}) for n in names}
        answers = decode_answers(self.crossed, self.budget)
        made: list[Made | None] = []
        stopped_in = status != "ok"  # the request ended early: in the first check not back
        for index, (name, calls, timeout) in enumerate(checks):
            if not isinstance(answers.get(name), CallableAnswer):
                made.append(None)
                continue
            per_call = self._per_call(timeout)
            items = parts.get(index)
            if not calls:
                items = []
            elif not isinstance(items, list) or len(items) != len(calls):
                if not stopped_in:
                    # Not called in the request (the submission replaced the agent's
                    # harvest, say): asked for on its own, as before the request.
                    outcomes = self.call(name, calls, timeout=timeout)
                    made.append(Made(limit=per_call, items=tuple(self.last_items),
                                     outcomes=outcomes))
                    continue
                items, stopped_in = _failed(status, len(calls)), False
            made.append(Made(limit=per_call, items=tuple(items),
                             outcomes=decode_calls(items, self.budget, per_call)))
        return answers, made

    def _refuse(self, names: Sequence[str], reason: str) -> dict[str, Any]:
        self.crossed, self.refused = None, reason
        return {n: Rejected(reason) for n in names}

    def call(self, name: str, calls: Sequence[Call], *,
             timeout: float | None = None) -> tuple[CallOutcome, ...]:
        """Call the student's function ``name`` on each argument set, inside the kernel.

        ``timeout`` (seconds per call) is the check's own ``call_timeout``; without one the
        execution settings' ``call_timeout`` applies.
        """
        self.last_items = []
        if not calls:
            return ()
        per_call = self._per_call(timeout)
        if not self._ensure_agent():
            self.last_items = [{"error": "the grader could not reach the kernel"}] * len(calls)
            return decode_calls(self.last_items, self.budget, per_call)
        code = self._loader() + (f"_grader_agent._grader_call(globals(), {self.nonce!r}, "
                                 f"{name!r}, {json.dumps(json.dumps(_wire(calls)))}, "
                                 f"{per_call!r})")
        status, outputs = self.session.run_code(code, timeout=_cell_limit(per_call, len(calls)))
        payload = self._payload(outputs)
        if not isinstance(payload, list) or len(payload) != len(calls):
            payload = _failed(status, len(calls))
        self.last_items = payload
        return decode_calls(payload, self.budget, per_call)

    def _per_call(self, timeout: float | None) -> float:
        """A check's own ``call_timeout``, else the execution settings'."""
        return timeout or self.session.settings.call_timeout


CheckCalls = tuple[str, Sequence[Call], float | None]  # a check's function, calls and limit


@dataclass(frozen=True, kw_only=True)
class Made:
    """One check's calls as made: the per-call limit, the agent's items, their outcomes."""

    limit: float
    items: tuple[Any, ...]
    outcomes: tuple[CallOutcome, ...]


def _wire(calls: Sequence[Call]) -> list[dict[str, Any]]:
    """A check's argument sets as the agent reads them (trusted values, tagged JSON)."""
    return [{"args": encode(tuple(c.args)), "kwargs": encode(dict(c.kwargs))} for c in calls]


def _is_function(entry: Any) -> bool:
    """Whether a harvested answer crossed as a function (the agent then calls it)."""
    return isinstance(entry, dict) and entry.get("t") == "callable"


def _cell_limit(per_call: float, count: int) -> float:
    """How long the grader waits for one check's ``count`` calls of ``per_call`` s each."""
    return per_call * count + 10


def _failed(status: str, count: int) -> list[dict[str, Any]]:
    """The items of a check whose results did not come back, the request having ``status``."""
    reason = {"timeout": "the calls ran past the time limit",
              "dead": "the kernel died during the calls"}.get(
        status, "the kernel did not return the results")
    return [{"error": reason, "timeout": status == "timeout"}] * count


def budget_of(limits: wire.Limits) -> DecodeBudget:
    """A fresh budget for decoding one submission's answers and call results."""
    return DecodeBudget(nodes=limits.answer_nodes, seconds=limits.decode_seconds,
                        nbytes=limits.answer_bytes)


def decode_answers(crossed: Mapping[str, Any], budget: DecodeBudget) -> dict[str, Any]:
    """Harvested answers (tagged JSON by name) decoded by the hostile-input codec."""
    return {n: decode_answer(obj, budget) for n, obj in crossed.items()}


def decode_calls(items: Sequence[Any], budget: DecodeBudget,
                 limit: float) -> tuple[CallOutcome, ...]:
    """The outcomes of one check's calls from the agent's items (``limit``: per call)."""
    return tuple(_outcome(item, budget, limit) for item in items)


def _outcome(item: Any, budget: DecodeBudget | None = None,
             limit: float | None = None) -> CallOutcome:
    if not isinstance(item, dict):
        return CallOutcome(error="malformed result from the kernel")
    if item.get("timeout") is True:
        # The limit is the grader's own figure, not the kernel's words about it.
        error = item.get("error")
        return CallOutcome(timed_out=True, not_run=item.get("not_run") is True, limit=limit,
                           error=None if error is None else str(error)[:2000])
    if "error" in item:
        return CallOutcome(error=str(item["error"])[:2000])
    value = decode_answer(item.get("value"), budget)
    if value is MISSING:
        return CallOutcome(value=Rejected("malformed result from the kernel"))
    return CallOutcome(value=value)


def text_answers(cells: Iterable[Any], names: Iterable[str]) -> dict[str, str]:
    """Text answers given as markdown cells tagged with the answer's name."""
    wanted = set(names)
    found: dict[str, list[str]] = {}
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if not isinstance(tags, list):
            continue
        for tag in tags:
            if tag in wanted:
                found.setdefault(tag, []).append(str(cell.get("source", "")))
    return {name: "\n\n".join(parts).strip() for name, parts in found.items()}
