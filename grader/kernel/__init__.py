"""The kernel side: everything that starts, confines, talks to and reads from a kernel.

Sessions (:mod:`~grader.kernel.execute`) and workspaces (:mod:`~grader.kernel.workspace`),
the sandbox and its seccomp filter, the fork server and its zygote, the agent that runs
inside the kernel, the wire limits, and the decoding of what comes back
(:mod:`~grader.kernel.codec`, :mod:`~grader.kernel.harvest`). Nothing here imports the
rubric or the checks: settings come in as :class:`~grader.settings.ExecutionSettings`,
answers go out as plain data and the markers of :mod:`grader.answers`.
"""
