"""Command rules on terminals: each line is checked when Enter is pressed, before the
Enter reaches the target.

The line is read off the technician's screen as the bastion shows it
(``bastion.recording.terminal_lines.LiveLine``, the same reading the command index makes
of the recording). A line a deny rule matches is never entered: the bastion keeps the
Enter, cancels the line on the target instead (Ctrl-E Ctrl-U Ctrl-C: to its end, erase it,
interrupt), shows the technician one line saying why, and audits ``command.refused``. A
line a flag rule matches is audited as ``command.flagged``, then entered: the flag is in
the trail before the command runs, and shows while the session is still live. The
decision is the contracts engine's (``check_command``, as for exec commands). The
tracking is pure CPU work on bounded input, done only on terminals whose grant has command
rules; audits go through the worker threads like every other audit of the proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bastion.contracts import CommandVerdict
from bastion.recording.terminal_lines import EnteredLine, LiveLine

# To the end of the line, erase it, interrupt: readline and zsh drop the line on Ctrl-C;
# a program reading in cooked mode has it erased by Ctrl-U; Ctrl-E first so that Ctrl-U
# erases all of a readline line whatever the cursor's place.
CANCEL_LINE = b"\x05\x15\x03"
MASKED_LINE = "(typed at a password prompt: not stored)"

Send = Callable[[bytes], Awaitable[None]]
Report = Callable[[str, dict[str, object], str], Awaitable[None]]


def refusal_line(reason: str | None) -> bytes:
    return (f"\r\nbastion: command refused: {reason or 'a contract rule forbids it'}; the line "
            "was cancelled, the session goes on.\r\n").encode()


def judge(check: Callable[[str], CommandVerdict], line: EnteredLine) -> tuple[str, CommandVerdict]:
    """The reading the engine is strictest on, and its verdict: deny, else flag, else allow."""
    found: tuple[str, CommandVerdict] | None = None
    for reading in line.readings:
        verdict = check(reading)
        if verdict.action == "deny":
            return reading, verdict
        if verdict.action == "flag" and found is None:
            found = (reading, verdict)
    return found or ("", CommandVerdict("allow", None))


class TypedCommands:
    """One terminal channel's typed lines against the grant's command rules."""

    def __init__(self, check: Callable[[str], CommandVerdict], report: Report, channel: str,
                 width: int, height: int) -> None:
        self.check = check
        self.report = report
        self.channel = channel  # shell, or exec for ``ssh -t ... bash``: where to replay it
        self.line = LiveLine(width or 80, height or 24)

    def shown(self, data: bytes) -> None:
        """Output on its way to the technician's screen (after it is recorded)."""
        self.line.output(data)

    def resized(self, width: int, height: int) -> None:
        self.line.resize(width, height)

    async def forward_keys(self, data: bytes, send: Send, show: Send) -> None:
        """Keys from the technician: ``send`` records and forwards keys to the target,
        ``show`` records and writes output to the technician."""
        pending = b""
        for piece, entered in self.line.keys(data):
            if entered is None:
                pending += piece
                continue
            reading, verdict = judge(self.check, entered)
            details: dict[str, object] = {
                "command": MASKED_LINE if entered.secret else reading, "rule": verdict.pattern,
                "reason": verdict.rule_reason, "channel": self.channel, "typed": True}
            if verdict.action == "deny":
                if pending:
                    await send(pending)
                    pending = b""
                await self.report("command.refused", details, "denied")
                line = refusal_line(verdict.rule_reason)
                await show(line)
                self.shown(line)
                await send(CANCEL_LINE)
                continue
            if verdict.action == "flag":
                # Audited before the Enter leaves: the flag is in the trail before the
                # command can run, and a trail that cannot be written keeps it from running.
                await self.report("command.flagged", details, "allowed")
            pending += piece
        if pending:
            await send(pending)
