"""Masking what is typed at a password prompt.

The bastion cannot see the target terminal's echo flag, so it goes by what the technician
sees: when the output ends with a password prompt (sudo, su, ssh, mysql, gpg, a French
"mot de passe :"), the keys typed up to Enter are recorded as ``*``, keeping their count
and timing (a replay still shows that something was typed) but never the characters.
"""

from __future__ import annotations

import re

# Password prompts (sudo, su, ssh, mysql, gpg, French systems), at the end of the output.
_SECRET_PROMPT = re.compile(
    r"(password|passphrase|passcode|pass phrase|mot de passe|\bpin)[^\r\n]{0,60}[:?]\s*$",
    re.IGNORECASE,
)
_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|.)")
TAIL_BYTES = 256  # how much of the output's end is looked at


def at_secret_prompt(output_tail: bytes) -> bool:
    text = _ESCAPE_SEQUENCE.sub("", output_tail.decode("utf-8", errors="replace"))
    return bool(_SECRET_PROMPT.search(text.rsplit("\n", 1)[-1]))


def mask_until_enter(data: bytes) -> bytes:
    """Keys up to the first Enter become ``*``; Enter and what follows it are kept."""
    cut = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=len(data))
    return b"*" * cut + data[cut:]
