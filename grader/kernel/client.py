"""The kernel's manager and the nbclient client classes, fitted to the grader's bounds.

The manager starts the grader's own kernel command over IPC sockets (or asks a fork server
for one); the clients are ready at the kernel's first idle status, refuse frames past the
wire limits, and drop output past a byte budget as it streams in.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.kernel import wire
from grader.kernel.workspace import KERNEL_ARGS

if TYPE_CHECKING:
    from grader.kernel.forkserver import ForkServer
    from grader.kernel.sandbox import KernelCgroup


def kernel_manager(argv: list[str], ipc: Path) -> Any:
    """A kernel manager that starts ``argv`` with its sockets in ``ipc``, and our client."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    # Interrupts as messages, not SIGINT to a process group: that works through bwrap.
    spec = KernelSpec(argv=argv, display_name="grader", language="python",
                      interrupt_mode="message")

    class _OneSpec(KernelSpecManager):
        """Resolves every kernel name to the grader's own kernel command."""

        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return spec

    # IPC (Unix sockets in the workspace) rather than TCP: nothing listens on the network,
    # and the channels keep working inside a sandbox with its own network namespace.
    km = AsyncKernelManager(kernel_name="grader", kernel_spec_manager=_OneSpec(),
                            transport="ipc", ip=str(ipc / "kernel"))
    km.connection_file = str(ipc / "connection.json")
    km.client_factory = _client_class()
    return km


def _client_class() -> Any:
    """The kernel client of :func:`kernel_manager`: ready sooner, and watching for cuts."""
    import time as _time
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class ReadyClient(AsyncKernelClient):
        """jupyter_client's client, ready as soon as the kernel has answered.

        jupyter_client waits, after the kernel's first reply, until its IOPub channel has
        been silent for 0.2 s; here the wait ends at the kernel's idle status for that
        request (nbclient ignores IOPub messages of other requests anyway).
        """

        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = _time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                request = self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    msg = None
                if msg is not None and msg["msg_type"] == "kernel_info_reply":
                    if await self._idle_after(request):
                        self._handle_kernel_info_reply(msg)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if _time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

        # AsyncKernelClient binds the base class's coroutine to this name directly.
        wait_for_ready = _async_wait_for_ready

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # The manager hands its client a clone of its session, without the guard.
            guard = getattr(getattr(self.parent, "session", None), "grader_guard", None)
            if guard is not None:
                guard.install(self.session)

        def _context_default(self) -> Any:
            import zmq

            context = super()._context_default()
            guard = getattr(self.session, "grader_guard", None)
            if guard is not None:
                # libzmq refuses a longer frame before allocating it, on every socket of
                # this context (heartbeat included), and cuts that connection.
                context.setsockopt(zmq.MAXMSGSIZE, guard.limits.message_bytes)
            return context

        def _create_connected_socket(self, channel: str, identity: bytes | None = None
                                     ) -> Any:
            import zmq

            sock = super()._create_connected_socket(channel, identity)
            # A cut connection is the only sign of a frame libzmq refused: watch for it.
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self.grader_monitors = [*getattr(self, "grader_monitors", []),
                                    (channel, zmq.Socket.shadow(monitor.underlying))]
            return sock

        def cut_channels(self) -> list[str]:
            """Channels whose connection to the kernel was cut since the last look."""
            import zmq

            cut = []
            for channel, monitor in getattr(self, "grader_monitors", []):
                try:
                    while True:
                        monitor.recv_multipart(zmq.NOBLOCK)
                        cut.append(channel)
                except zmq.ZMQError:  # nothing more (Again), or closed with its context
                    pass
            return cut

        async def _idle_after(self, request: str) -> bool:
            """Read IOPub up to the idle status of ``request``: proof that it is connected."""
            while True:
                try:
                    msg = await self.iopub_channel.get_msg(timeout=0.1)
                except Empty:
                    return False  # IOPub is not connected yet: ask again
                if msg["msg_type"] == "status" and \
                        msg["parent_header"].get("msg_id") == request and \
                        msg["content"].get("execution_state") == "idle":
                    return True

    return ReadyClient



def fork_with(km: Any, server: ForkServer, cgroup: KernelCgroup | None) -> None:
    """Make ``km`` start its kernel by asking ``server`` to fork one."""
    import uuid

    from jupyter_client.provisioning import LocalProvisioner

    class ForkProvisioner(LocalProvisioner):
        """jupyter_client's local provisioner, with a fork instead of a new process."""

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            process = server.spawn(
                argv=["-f", km.connection_file, *KERNEL_ARGS], env=dict(kwargs["env"]),
                cwd=str(kwargs.get("cwd") or server.space.work),
                cgroup=cgroup)
            self.process = process  # type: ignore[assignment]  # Popen's interface
            self.pid = process.pid
            self.pgid = None  # signals go through the server
            self.cwd = kwargs.get("cwd")
            return self.connection_info

    km.kernel_id = str(uuid.uuid4())
    km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec,
                                     parent=km)


def capped_client_class() -> Any:
    """nbclient's notebook client with the output budget and the wire guard.

    Made when called, so that nbclient is imported only by a process that runs kernels.
    """
    from jupyter_core.utils import ensure_async
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    class CappedClient(NotebookClient):
        """Drops outputs past a byte budget as they stream in, instead of keeping them all.

        Once the grader has stopped the kernel itself (``stopped`` says so), a wait that
        times out ends there: nbclient would interrupt a dead kernel and wait again.

        Messages reach it through ``guard`` (:class:`grader.kernel.wire.Guard`); display updates
        and widget state count against the budget like outputs, and the grader's own cells
        keep at most one message's worth (``grader_budget``) whatever a hook adds.

        A grader request made of parts (the harvest, then each function check's calls)
        sets ``grader_part``: it reads each output the request keeps and gives, when the
        output is a new part, how long the next part may take. Each part then gets a fresh
        message's worth of bytes (a running allowance, not one for all the parts up front),
        and a part that takes longer than its own limit is interrupted (``grader_limit``
        for the first), whatever the student's code did to the agent's own timers.
        """

        output_budget = 0
        output_capped = False
        capping = True  # off while the grader's own cells run: their results are not output
        grader_budget = 0
        grader_part: Any = None  # (output) -> the next part's limit in s, None if no part
        grader_limit = 0.0
        grader_deadline = float("inf")
        guard: wire.Guard | None = None
        stopped: Any = staticmethod(lambda: False)

        async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
            if self.stopped():
                raise DeadKernelError("the grader stopped the kernel")
            return await super()._async_handle_timeout(timeout, cell)

        def start_new_kernel(self, **kwargs: Any) -> None:
            if self.guard is not None and self.km is not None:
                self.guard.install(self.km.session)  # before the client's sockets exist
            super().start_new_kernel(**kwargs)

        async def _async_check_alive(self) -> None:
            await super()._async_check_alive()
            watch = getattr(self.kc, "cut_channels", None)
            cut = watch() if watch is not None else []
            if cut and self.guard is not None and not self.stopped():
                # A kernel that exits closes its sockets a moment before it can be waited
                # for: a cut is a refused frame only if the kernel outlives it.
                await asyncio.sleep(0.3)
                await super()._async_check_alive()
                self.guard.cut(cut[0])
                raise DeadKernelError(self.guard.refused)

        def _spend(self, msg: dict[str, Any], outs: list[Any]) -> bool:
            """Count ``msg`` against the budget in force; False when it must be dropped."""
            if not self.capping:
                size = msg.get(wire.SIZE_KEY, 0)
                if size > self.grader_budget:
                    return False
                self.grader_budget -= size
                return True
            size = _message_size(msg.get("content", {}))
            if size > self.output_budget:
                if not self.output_capped:
                    self.output_capped = True
                    outs.append({"output_type": "stream", "name": "stderr",
                                 "text": "[grader: output beyond the limit was dropped]\n"})
                self.output_budget = 0
                return False
            self.output_budget -= size
            return True

        async def async_execute_cell(self, *args: Any, **kwargs: Any) -> Any:
            if self.capping or self.grader_part is None:
                return await super().async_execute_cell(*args, **kwargs)
            self.grader_deadline = time.monotonic() + self.grader_limit
            watch = asyncio.ensure_future(self._watch_parts())
            try:
                return await super().async_execute_cell(*args, **kwargs)
            finally:
                watch.cancel()

        async def _watch_parts(self) -> None:
            """Interrupt the kernel once the part it is making runs past its own limit.

            The agent's timers stop a call in time unless the student's code switched them
            off or blocks where signals wait: the later checks must still get their calls.
            """
            while True:
                await asyncio.sleep(0.1)
                if time.monotonic() > self.grader_deadline and self.km is not None:
                    # Again later, as student code may catch a KeyboardInterrupt: not at
                    # once, lest one meant for this part reach the next check's calls
                    # while this part's results are still on their way.
                    self.grader_deadline = time.monotonic() + 5.0
                    await ensure_async(self.km.interrupt_kernel())

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: Any,
                   cell_index: int) -> Any:
            if not self._spend(msg, outs):
                return None
            if not self.capping:
                # nbformat would copy every dict of the content into a NotebookNode: a
                # second copy of a harvest. The grader reads its own outputs as dicts.
                if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
                    out = {"output_type": msg["msg_type"], **msg["content"]}
                    outs.append(out)
                    limit = self.grader_part(out) if self.grader_part is not None else None
                    if limit is not None and self.guard is not None:
                        self.grader_budget = self.guard.limits.message_bytes
                        self.grader_deadline = time.monotonic() + limit
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
            # An update replaces an earlier output's data: it costs what new output would.
            # The grader's cells make none; one in them is a student's hook at work.
            if self.capping and self._spend(msg, self.nb.cells[-1].setdefault("outputs", [])):
                super()._update_display_id(display_id, msg)

        def handle_comm_msg(self, outs: list[Any], msg: dict[str, Any], cell_index: int
                            ) -> None:
            if self._spend(msg, outs):  # nbclient keeps widget state for the whole run
                super().handle_comm_msg(outs, msg, cell_index)

    return CappedClient


def _message_size(content: dict[str, Any]) -> int:
    """Bytes an output message carries, counted without copying it."""
    size = len(content.get("text", "") or "")
    data = content.get("data")
    if isinstance(data, dict):
        size += sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())
    for line in content.get("traceback", []) or []:
        size += len(line)
    return size + 64
